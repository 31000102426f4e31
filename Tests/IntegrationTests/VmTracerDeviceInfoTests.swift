import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Primitives
import Testing
import Worker

/// `SyncVmDeviceInfoMsg` on the wire (scenarios 47, 43, 44) and the sync another node's start asks for (scenario 41).
@Suite("VM device-info sync through the broker", .enabled(if: TestBroker.available))
struct VmTracerDeviceInfoTests {
    private func host(_ uuid: String, agent: FakeKVMAgent) -> HostRecord {
        HostRecord(uuid: uuid, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected)
    }

    private static func pci(slot: String) -> String {
        #"{"type":"pci","domain":"0x0000","bus":"0x00","slot":"\#(slot)","function":"0x0"}"#
    }

    @Test("scenarios 47 + 43: one SyncVmDeviceInfoReply to reply_to with the correlation id; disk, NIC and balloon addresses stored")
    func wireRequestStoresAddresses() async throws {
        try await FakeKVMAgent.withRunning { agent in
            try await withWorker { harness in
                let collector = try await ReplyCollector.open(durable: false)
                let hostUuid = MessageID.random(), vm = MessageID.random()
                let volume = MessageID.random(), nic = MessageID.random()
                try await harness.inventory.upsertHosts([host(hostUuid, agent: agent)])
                try await harness.inventory.upsertVms([VmRecord(uuid: vm, state: .running, hostUuid: hostUuid)])
                try await harness.inventory.replaceNics(ofVm: vm, with: [VmNicRecord(uuid: nic, vmUuid: vm, mac: "fa:16:3e:00:00:01")])
                agent.setBehaviour(.answer(json: """
                    {"success":true,
                     "nicInfos":[{"macAddress":"FA:16:3E:00:00:01","deviceAddress":\(Self.pci(slot: "0x03"))},
                                 {"macAddress":"fa:16:3e:99:99:99","deviceAddress":\(Self.pci(slot: "0x04"))}],
                     "virtualDeviceInfoList":[{"resourceUuid":"\(volume)","deviceAddress":\(Self.pci(slot: "0x05"))}],
                     "memBalloonInfo":{"deviceAddress":\(Self.pci(slot: "0x06"))},
                     "virtualizerInfo":{"uuid":"\(vm)","virtualizer":"qemu-kvm","version":"6.2.0"}}
                    """), for: SyncVmDeviceInfoHandler.path, host: hostUuid)

                let request = BusRequest(className: SyncVmDeviceInfoMsg.className, fields: [
                    "vmInstanceUuid": .string(vm), "hostUuid": .string(hostUuid),
                ])
                collector.expect(request.id)
                try await harness.sendRaw(try request.body(service: harness.hostService, replyTo: collector.inbox,
                                                           timeout: .seconds(30)))
                #expect(await collector.waitUntil(within: .seconds(15)) { $0.isAnswered(request.id) })
                // A later request through the same inbox, answered after the sync was: a second sync reply would be in by now.
                let echo = BusRequest.echo()
                collector.expect(echo.id)
                try await harness.sendRaw(try echo.body(service: harness.hostService, replyTo: collector.inbox,
                                                        timeout: .seconds(30)))
                #expect(await collector.waitUntil(within: .seconds(15)) { $0.isAnswered(echo.id) })
                let entry = try #require(collector.entry(for: request.id))
                #expect(entry.className == SyncVmDeviceInfoReply.className)
                #expect(entry.success)
                #expect(entry.count == 1)
                #expect(collector.summary.unknown == 0)

                let calls = agent.receivedRequests(path: SyncVmDeviceInfoHandler.path)
                #expect(calls.count == 1)
                #expect(calls.first?.hostUuid == hostUuid)
                #expect(calls.first?.body.contains(vm) == true)
                let stored = try await harness.inventory.deviceAddresses(ofVm: vm)
                #expect(Set(stored.map(\.resourceUuid)) == [volume, nic, VmDeviceAddress.memBalloonResourceUuid])
                #expect(stored.first { $0.resourceUuid == nic }?.address.slot == "0x03")
                #expect(stored.first { $0.resourceUuid == volume }?.address.slot == "0x05")
                #expect(stored.first { $0.resourceUuid == VmDeviceAddress.memBalloonResourceUuid }?.address.slot == "0x06")
                let virtualizer = try await harness.inventory.virtualizerInfo(ofVm: vm)
                #expect(virtualizer == VmVirtualizerInfo(vmUuid: vm, virtualizer: "qemu-kvm", version: "6.2.0"))
                await collector.close()
            }
        }
    }

    @Test("scenario 44: the agent answers success=false; SYS.1006 carrying its error, nothing stored")
    func agentFailureStoresNothing() async throws {
        try await FakeKVMAgent.withRunning { agent in
            try await withWorker { harness in
                let hostUuid = MessageID.random(), vm = MessageID.random()
                try await harness.inventory.upsertHosts([host(hostUuid, agent: agent)])
                try await harness.inventory.upsertVms([VmRecord(uuid: vm, state: .running, hostUuid: hostUuid)])
                agent.setBehaviour(.fail(error: "boom: domain \(vm) not found"), for: SyncVmDeviceInfoHandler.path,
                                   host: hostUuid)

                let reply = try await harness.call(SyncVmDeviceInfoMsg.className, [
                    "vmInstanceUuid": .string(vm), "hostUuid": .string(hostUuid),
                ])
                #expect(reply.className == SyncVmDeviceInfoReply.className)
                #expect(!reply.success)
                #expect(reply.errorCode == "SYS.1006")
                #expect(reply.fields["error"]?["details"]?.stringValue?.contains("boom: domain \(vm) not found") == true)
                #expect(agent.receivedRequests(path: SyncVmDeviceInfoHandler.path).count == 1)
                #expect(try await harness.inventory.deviceAddresses(ofVm: vm).isEmpty)
                #expect(try await harness.inventory.virtualizerInfo(ofVm: vm) == nil)
                #expect(harness.metrics[WorkerCounter.deviceInfoFailures] == 1)
            }
        }
    }

    @Test("scenario 41: another node's /vm/state/change Starting → Running makes the VM's owner sync its device info")
    func startByAnotherNodeSyncsDeviceInfo() async throws {
        try await FakeKVMAgent.withRunning { agent in
            try await withWorker { harness in
                let otherNode = NodeUUID.random().rawValue
                let hostUuid = MessageID.random(), vm = MessageID.random()
                try await harness.inventory.upsertHosts([host(hostUuid, agent: agent)])
                try await harness.inventory.upsertVms([VmRecord(uuid: vm, state: .starting, hostUuid: hostUuid)])

                // Delivered to this worker alone: on BROADCAST every worker of the shared broker would send itself the sync.
                try await harness.deliverEvent(
                    VmFullStateChangedData(vmUuid: vm, oldState: "Starting", newState: "Running", inventory: .object([
                        "uuid": .string(vm), "state": .string("Running"), "hostUuid": .string(hostUuid),
                        "lastHostUuid": .string(hostUuid), "type": .string("UserVm"),
                    ])),
                    from: otherNode)
                #expect(try await eventually {
                    agent.receivedRequests(path: SyncVmDeviceInfoHandler.path).contains {
                        $0.hostUuid == hostUuid && $0.body.contains(vm)
                    }
                })
                let handled = WorkerCounter.handled(SyncVmDeviceInfoMsg.className)
                #expect(try await eventually { harness.metrics[handled] == 1 })
                let stored = try await harness.inventory.vm(uuid: vm)
                #expect(stored?.state == .running)
                #expect(stored?.hostUuid == hostUuid)
                // The fake agent's default answer names the virtualizer: the sync ran to the end and recorded it.
                #expect(try await harness.inventory.virtualizerInfo(ofVm: vm)?.virtualizer == "qemu-kvm")
                #expect(agent.receivedRequests(path: SyncVmDeviceInfoHandler.path).count == 1)
            }
        }
    }
}
