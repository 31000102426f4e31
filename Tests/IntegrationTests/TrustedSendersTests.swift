import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import LiveSettings
import Primitives
import Testing
import Worker

/// `trustedSenders`: with management nodes named, a settings change from anyone else is refused and changes nothing.
@Suite("Trusted senders: settings", .enabled(if: TestBroker.available))
struct TrustedSendersSettingsTests {
    @Test("UpdateSettingMsg from an untrusted reply inbox: SYS.1006, dead-lettered, unchanged; from a trusted one: applied")
    func settingsFromTrustedNodesOnly() async throws {
        let trusted = NodeUUID.random()
        try await withWorker(configure: { $0.trustedSenders = [trusted.rawValue] }) { harness in
            let setting = harness.runtime.settings.orphanedVmSkipTimeout
            let change: [String: JSONValue] = ["name": .string("kvm.orphanedVmSkipTimeout"), "value": .string("120")]
            let refused = try await harness.call(UpdateSettingMsg.className, change)
            #expect(refused.errorCode == "SYS.1006")
            #expect(refused.fields["error"]?["details"]?.stringValue?.contains("not in trustedSenders") == true)
            #expect(setting.value == .seconds(600))

            let client = RPCClient(connection: harness.clientConnection, node: trusted)
            try await client.start()
            try await withTeardown({ await client.close() }) {
                let body = try JSONValue.object([UpdateSettingMsg.className: .object(change)]).jsonData()
                let applied = try await client.call(envelope: body, to: .service(harness.hostService))
                #expect(applied.success, "a trusted node's change was refused")
            }
            #expect(setting.value == .seconds(120))
        }
    }
}
