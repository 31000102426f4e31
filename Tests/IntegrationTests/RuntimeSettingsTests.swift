import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import LiveSettings
import Primitives
import Testing
import Worker

/// `cloudbus.worker.UpdateSettingMsg` end to end: a setting changes while the worker runs, an invalid value is
/// refused with SYS.1007 and a dead-letter copy, and the setting keeps its value.
@Suite("Runtime settings through the broker", .enabled(if: TestBroker.available))
struct RuntimeSettingsTests {
    @Test("kvm.orphanedVmSkipTimeout: 120 is applied and read back; 0, -5 and 'ten' are refused and change nothing")
    func orphanTimeout() async throws {
        try await withWorker { harness in
            let setting = harness.runtime.settings.orphanedVmSkipTimeout
            #expect(setting.value == .seconds(600))
            let reply = try await harness.call(UpdateSettingMsg.className, [
                "name": .string("kvm.orphanedVmSkipTimeout"), "value": .string("120"),
            ])
            #expect(reply.success)
            #expect(reply.className == UpdateSettingReply.className)
            #expect(reply.fields["oldValue"]?.stringValue == "600")
            #expect(reply.fields["newValue"]?.stringValue == "120")
            #expect(setting.value == .seconds(120))

            let probe = try await DeadLetterProbe.open()
            for invalid in ["0", "-5", "ten"] {
                let refused = try await harness.call(UpdateSettingMsg.className, [
                    "name": .string("kvm.orphanedVmSkipTimeout"), "value": .string(invalid),
                ])
                #expect(!refused.success, "value \(invalid)")
                #expect(refused.errorCode == "SYS.1007")
                #expect(refused.fields["error"]?["details"]?.stringValue?.contains("seconds > 0") == true)
                let id = try #require(refused.correlationId)
                let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
                #expect(letter.header("x-cbw-detail")?.contains("invalid-setting") == true)
            }
            #expect(setting.value == .seconds(120))
            await probe.close()
        }
    }

    @Test("an unknown setting name is refused and the reply lists the known ones")
    func unknownName() async throws {
        try await withWorker { harness in
            let reply = try await harness.call(UpdateSettingMsg.className, [
                "name": .string("kvm.noSuchThing"), "value": .string("1"),
            ])
            #expect(!reply.success)
            #expect(reply.errorCode == "SYS.1007")
            #expect(reply.fields["error"]?["details"]?.stringValue?.contains("kvm.vmSyncOnHostPing") == true)
        }
    }
}
