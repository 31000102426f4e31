import AgentHTTP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import LiveSettings
import Logging
import MetricsTestKit
import Synchronization
import Testing

@Suite("SyncVmDeviceInfoMsg against a fake kvmagent and a SQLite inventory")
struct DeviceInfoTests {
    typealias F = DeviceInfoFixture

    @Test("scenario 43: disks, the matched NIC and the balloon are recorded; re-running updates without duplicates")
    func scenario43() async throws {
        try await F.with { fixture async throws in
            fixture.answer(F.fullAnswer())
            let reply = try await fixture.sync()
            #expect(reply.success)
            #expect(reply.error == nil)

            let stored = try await fixture.addresses()
            #expect(Set(stored.keys) == [F.volume1, F.volume2, F.nic1, VmDeviceAddress.memBalloonResourceUuid])
            #expect(stored[F.volume1]?.slot == "0x05")
            #expect(stored[F.volume2]?.unit == "1")
            #expect(stored[F.nic1]?.slot == "0x03")
            #expect(stored[VmDeviceAddress.memBalloonResourceUuid]?.slot == "0x07")
            #expect(try await fixture.inventory.virtualizerInfo(ofVm: F.vm)
                == VmVirtualizerInfo(vmUuid: F.vm, virtualizer: "qemu-kvm", version: "6.2.0"))

            let request = try #require(fixture.agent.receivedRequests(path: SyncVmDeviceInfoHandler.path).first)
            #expect(request.headers["x-resource-uuid"] == F.host)
            #expect(request.body.contains(#""vmInstanceUuid":"\#(F.vm)""#))
            #expect(request.taskUUID != nil)

            fixture.answer(F.fullAnswer(diskSlot: "0x0a"))
            #expect(try await fixture.sync().success)
            let again = try await fixture.inventory.deviceAddresses(ofVm: F.vm)
            #expect(again.count == 4)
            #expect(again.first { $0.resourceUuid == F.volume1 }?.address.slot == "0x0a")
            // The unknown MAC, the empty address and the invalid uuid were skipped and counted.
            #expect(fixture.metrics.counterTotal(label: "cloudbus_worker_device_info_items_skipped_total") == 6)
        }
    }

    @Test("scenario 44: agent success=false gives SYS.1006 carrying its error; nothing is stored")
    func scenario44() async throws {
        try await F.with { fixture async throws in
            fixture.agent.setBehaviour(.fail(error: "boom"), for: SyncVmDeviceInfoHandler.path)
            let reply = try await fixture.sync()
            #expect(!reply.success)
            let error = try #require(reply.error)
            #expect(error.isError(.operationError))
            #expect(error.details == "boom")
            #expect(try await fixture.inventory.deviceAddresses(ofVm: F.vm).isEmpty)
            #expect(try await fixture.inventory.virtualizerInfo(ofVm: F.vm) == nil)
        }
    }

    @Test("scenario 45: a transport failure is the reply's error; nothing is stored")
    func scenario45Transport() async throws {
        try await F.with { fixture async throws in
            let closed = try await ClosedLoopbackPort.make()
            try await fixture.inventory.upsertHosts([
                HostRecord(uuid: F.host, managementIp: "127.0.0.1", agentPort: closed.port, status: .connected)])
            let reply = try await fixture.sync()
            let error = try #require(reply.error)
            #expect(error.isError(.operationError))
            #expect(error.details?.contains("connection refused") == true)
            #expect(error.details?.contains(F.host) == true)
            #expect(try await fixture.inventory.deviceAddresses(ofVm: F.vm).isEmpty)
        }
    }

    @Test("scenario 45: an agent that never calls back gives SYS.1001 within the budget")
    func scenario45Timeout() async throws {
        try await F.with { fixture async throws in
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: SyncVmDeviceInfoHandler.path)
            let handler = SyncVmDeviceInfoHandler(
                inventory: fixture.inventory, caller: fixture.caller,
                settings: DeviceInfoSettings(agentTimeout: .milliseconds(300)), logger: Logger.quiet)
            let output = try await handler.handle(
                SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: F.host), context: context())
            let reply = try #require(output.reply as? SyncVmDeviceInfoReply)
            #expect(reply.error?.isError(.timeout) == true)
            #expect(try await fixture.inventory.deviceAddresses(ofVm: F.vm).isEmpty)
        }
    }

    @Test("scenario 45: the host deleted while the agent worked: host[uuid:H] has been deleted")
    func scenario45HostDeleted() async throws {
        try await F.with { fixture async throws in
            fixture.agent.setBehaviour(.holdCallback(json: F.fullAnswer()), for: SyncVmDeviceInfoHandler.path)
            let handler = fixture.handler
            let call = Task {
                try await handler.handle(SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: F.host), context: context())
            }
            let agent = fixture.agent
            #expect(try await eventually { agent.heldCallbackCount == 1 })
            fixture.inventory.hostGone.store(true, ordering: .relaxed)
            agent.releaseHeldCallbacks()
            let reply = try #require(try await call.value.reply as? SyncVmDeviceInfoReply)
            #expect(reply.error?.details == "host[uuid:\(F.host)] has been deleted")
            #expect(try await fixture.inventory.deviceAddresses(ofVm: F.vm).isEmpty)
        }
    }

    @Test("scenario 46: the VM deleted before the answer: success, nothing recorded")
    func scenario46VmDeleted() async throws {
        try await F.with { fixture async throws in
            fixture.answer(F.fullAnswer())
            fixture.inventory.vmGone.store(true, ordering: .relaxed)
            #expect(try await fixture.sync().success)
            #expect(try await fixture.inventory.deviceAddresses(ofVm: F.vm).isEmpty)
        }
    }

    @Test("scenario 46: null balloon, unknown MACs and malformed items are skipped; the rest is recorded")
    func scenario46BadItems() async throws {
        try await F.with { fixture async throws in
            fixture.answer("""
                {"success":true,"memBalloonInfo":null,
                 "virtualDeviceInfoList":[{"resourceUuid":"\(F.volume1)","deviceAddress":\(F.pci("0x05"))},
                                          {"resourceUuid":17,"deviceAddress":"x"}, "garbage"],
                 "nicInfos":[{"macAddress":"00:00:00:00:00:00","deviceAddress":\(F.pci("0x03"))},
                             {"deviceAddress":\(F.pci("0x04"))}],
                 "virtualizerInfo":null}
                """)
            #expect(try await fixture.sync().success)
            #expect(Set(try await fixture.addresses().keys) == [F.volume1])
            #expect(try await fixture.inventory.virtualizerInfo(ofVm: F.vm) == nil)
        }
    }

    @Test("scenario 46: address recording disabled: no addresses, the virtualizer info is still kept")
    func scenario46RecordingOff() async throws {
        try await F.with { fixture async throws in
            fixture.answer(F.fullAnswer())
            try fixture.settings.addressRecording.update(fromText: "false")
            #expect(try await fixture.sync().success)
            #expect(try await fixture.inventory.deviceAddresses(ofVm: F.vm).isEmpty)
            #expect(try await fixture.inventory.virtualizerInfo(ofVm: F.vm)?.version == "6.2.0")
        }
    }

    @Test("an unknown host or a malformed uuid is a BadRequest; the agent is not called")
    func badRequests() async throws {
        try await F.with { fixture async throws in
            await #expect(throws: BadRequest.self) {
                _ = try await fixture.handler.handle(
                    SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: "cccccccccccccccccccccccccccccccc"),
                    context: context())
            }
            await #expect(throws: BadRequest.self) {
                _ = try await fixture.handler.handle(
                    SyncVmDeviceInfoMsg(vmInstanceUuid: "not-a-uuid", hostUuid: F.host), context: context())
            }
            #expect(fixture.agent.receivedRequests(path: SyncVmDeviceInfoHandler.path).isEmpty)
            #expect(fixture.handler.expectsReply)
            #expect(fixture.handler.resourceKey(for: SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: F.host))
                == "deviceinfo:\(F.vm)")
        }
    }
}
