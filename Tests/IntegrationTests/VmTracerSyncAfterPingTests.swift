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

/// Scenarios 48 and 5 end to end: a successful `PingHostMsg` asks for a VM sync of its host on its own (the worker
/// sends itself a `VmSyncOnHostMsg`), and the sync's verdict is applied by the worker's VM handler.
@Suite("VM sync after ping through the broker", .enabled(if: TestBroker.available))
struct VmTracerSyncAfterPingTests {
    private func host(_ uuid: String, agent: FakeKVMAgent) -> HostRecord {
        HostRecord(uuid: uuid, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected,
                   clusterUuid: MessageID.random())
    }

    @Test("scenarios 48 + 5: a healthy ping answers connected=true, then a sync runs by itself and a Paused report makes V Paused")
    func pingThenSync() async throws {
        try await FakeKVMAgent.withRunning { agent in
            let events = try await EventProbe.open()
            try await withWorker { harness in
                let hostUuid = MessageID.random(), vm = MessageID.random()
                try await harness.inventory.upsertHosts([host(hostUuid, agent: agent)])
                try await harness.inventory.upsertVms([VmRecord(uuid: vm, state: .running, hostUuid: hostUuid)])
                agent.setVMReport(FakeKVMAgent.HostVMReport(states: [vm: "Paused"]), host: hostUuid)

                let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                #expect(reply.success)
                #expect(reply.fields["connected"]?.boolValue == true)
                // Nobody sent a VmSyncOnHostMsg but the worker itself, after the ping.
                #expect(try await eventually {
                    agent.receivedRequests(path: "/vm/vmsync").contains { $0.hostUuid == hostUuid }
                })
                #expect(try await eventually { harness.metrics[WorkerCounter.tracerRounds] == 1 })
                #expect(harness.stateChangesSent == 1)
                try await harness.waitForVerdictsHandled(1)
                let paused = try await harness.inventory.vm(uuid: vm)
                #expect(paused?.state == .paused)
                #expect(paused?.hostUuid == hostUuid)
                if harness.outputsConfirmed {
                    let event = await events.waitFor(VmTracerStateChangedData.path) { $0["vmUuid"]?.stringValue == vm }
                    #expect(event?.content["from"]?.stringValue == "Running")
                    #expect(event?.content["to"]?.stringValue == "Paused")
                    #expect(event?.content["currentHostUuid"]?.stringValue == hostUuid)
                }
            }
            await events.close()
        }
    }

    @Test("syncs of a host whose agent hangs coalesce: one runs, one waits, the rest are acked at once; other keys served")
    func syncsCoalesceBehindAHungOne() async throws {
        try await FakeKVMAgent.withRunning { agent in
            try await withWorker { harness in
                let hung = MessageID.random(), healthy = MessageID.random()
                try await harness.inventory.upsertHosts([host(hung, agent: agent), host(healthy, agent: agent)])
                // Held, not dropped: released at the end, so the worker's stop does not wait out the agent timeout.
                agent.setBehaviour(.holdCallback(), for: "/vm/vmsync", host: hung)
                let service = ServiceID(service: ServiceID.hostService, node: harness.node)
                func sync() async throws {
                    try await harness.sendRaw(try OutboundMessage.oneWay(VmSyncOnHostMsg(hostUuid: hung), to: service,
                                                                         timeout: .seconds(120)).body)
                }
                try await sync()
                try #require(try await eventually {
                    agent.receivedRequests(path: "/vm/vmsync").contains { $0.hostUuid == hung }
                }, "the first sync never reached the agent")
                for _ in 0..<49 { try await sync() }
                // The second waits behind the hung one; the 48 after it would only wait behind the second.
                #expect(try await eventually { harness.metrics[WorkerCounter.coalesced] == 48 },
                        "\(harness.metrics[WorkerCounter.coalesced]) coalesced")
                let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(healthy)])
                #expect(reply.fields["connected"]?.boolValue == true, "another host's ping waits behind the hung syncs")
                #expect(agent.receivedRequests(path: "/vm/vmsync").filter { $0.hostUuid == hung }.count == 1)
                agent.setBehaviour(.answer(), for: "/vm/vmsync", host: hung)
                _ = agent.releaseHeldCallbacks()
            }
        }
    }

    @Test("scenario 13: with kvm.vmSyncOnHostPing=false set at runtime, a successful ping asks for no sync")
    func syncOnPingOff() async throws {
        try await FakeKVMAgent.withRunning { agent in
            try await withWorker { harness in
                let hostUuid = MessageID.random()
                try await harness.inventory.upsertHosts([host(hostUuid, agent: agent)])
                try await harness.updateSetting("kvm.vmSyncOnHostPing", to: "false")

                let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                #expect(reply.fields["connected"]?.boolValue == true)
                #expect(agent.receivedRequests(path: "/host/ping").count == 1)
                // A sync the ping asked for would have been published (confirmed) before the ping's reply, so it sits in the
                // host queue ahead of this one, on the same key: once this one is handled, it would have run first.
                try await harness.syncVms(onHost: hostUuid)
                #expect(harness.metrics[WorkerCounter.handled(VmSyncOnHostMsg.className)] == 1)
                #expect(agent.receivedRequests(path: "/vm/vmsync").count { $0.hostUuid == hostUuid } == 1)

                // Switched back on, the next ping asks again.
                try await harness.updateSetting("kvm.vmSyncOnHostPing", to: "true")
                let again = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                #expect(again.fields["connected"]?.boolValue == true)
                #expect(try await eventually {
                    harness.metrics[WorkerCounter.handled(VmSyncOnHostMsg.className)] == 2
                })
                #expect(agent.receivedRequests(path: "/vm/vmsync").count { $0.hostUuid == hostUuid } == 2)
            }
        }
    }
}
