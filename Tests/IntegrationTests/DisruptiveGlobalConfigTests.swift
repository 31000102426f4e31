import CloudBus
import CloudBusTesting
import Foundation
import LiveSettings
import Primitives
import Testing
import Worker

/// ZStack's global-config update event reaches every worker on the broker, so this suite runs alone (the
/// `Disruptive` prefix puts it in the serial phase of `make test`).
@Suite("Global-config events change settings", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveGlobalConfigTests {
    @Test("/globalConfig/update/kvm/orphanedVmSkipTimeout from a management node is applied; an invalid one is not")
    func followsManagementNode() async throws {
        try await withWorker { harness in
            let setting = harness.runtime.settings.orphanedVmSkipTimeout
            let node = NodeUUID.random().rawValue
            try await harness.publishEvent(path: "/globalConfig/update/kvm/orphanedVmSkipTimeout",
                                           content: .object(["newValue": .string("90"), "oldValue": .string("600")]),
                                           from: node)
            #expect(try await eventually { setting.value == .seconds(90) })
            try await harness.publishEvent(path: "/globalConfig/update/kvm/orphanedVmSkipTimeout",
                                           content: .object(["newValue": .string("0"), "oldValue": .string("90")]),
                                           from: node)
            // Ordered behind the refused one on the same key: once this applies, the refused one was handled.
            try await harness.publishEvent(path: "/globalConfig/update/kvm/vmSyncOnHostPing",
                                           content: .object(["newValue": .string("false")]), from: node)
            #expect(try await eventually { harness.runtime.settings.vmSyncOnHostPing.value == false })
            #expect(setting.value == .seconds(90))
        }
    }
}
