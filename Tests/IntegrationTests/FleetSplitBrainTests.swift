import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import InventoryPostgres
import KVM
import KVMMessages
import Primitives
import Testing
import Worker

/// The split-brain guard held by the fleet, not by each worker: a skip-trace that reached worker A only (B's copy of
/// the broadcast was lost, or B consumed it later) still protects the VM when B serves its host's sync, because B
/// asks the shared store before a missing-VM verdict. Serial phase (`Disruptive`): two heartbeating workers.
@Suite("Split-brain guard across the fleet", .enabled(if: TestBroker.available && TestStore.available))
struct DisruptiveFleetSplitBrainTests {
    /// Polls the shared store until the VM's skip rows say `expected` (what every worker would be told).
    private func storeSays(
        _ expected: SharedSkipState?, about vmUuid: String, in store: any InventoryBackend
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let states = try await store.sharedSkipStates(
                of: [vmUuid], orphanTimeoutMillis: 600_000, expiryWindowMillis: 600_000)
            if states[vmUuid] == expected { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Two workers on one schema, both seeing both; a host H1 of a cluster that B owns on both rings, whose agent
    /// reports no VM at all.
    private func withTwoWorkers(
        _ body: (_ a: WorkerHarness, _ b: WorkerHarness, _ agent: FakeKVMAgent, _ h1: String, _ cluster: String)
            async throws -> Void
    ) async throws {
        try await TestStore.withSchema { settings in
            try await FakeKVMAgent.withRunning { agent in
                try await withWorker(configure: FleetTest.member(of: settings)) { a in
                    try await withWorker(configure: FleetTest.member(of: settings)) { b in
                        let both: Set = [a.node.rawValue, b.node.rawValue]
                        #expect(try await eventually { a.runtime.membership.members == both })
                        #expect(try await eventually { b.runtime.membership.members == both })
                        let cluster = MessageID.random()
                        let h1 = FleetTest.host(ownedBy: b, ringOf: a)
                        try await a.inventory.upsertHosts([HostRecord(
                            uuid: h1, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected,
                            clusterUuid: cluster)])
                        agent.setVMReport(FakeKVMAgent.HostVMReport(), host: h1)
                        try await body(a, b, agent, h1, cluster)
                    }
                }
            }
        }
    }

    @Test("the skip arrives at A, B serves the host's sync: no Stopped verdict until the continue-trace ends it")
    func skipAtAProtectsTheSyncAtB() async throws {
        try await withTwoWorkers { a, b, agent, h1, cluster in
            let mn = NodeUUID.random().rawValue
            let vm = MessageID.random()
            try await a.inventory.upsertVms([
                VmRecord(uuid: vm, state: .running, hostUuid: h1, clusterUuid: cluster),
            ])

            // A management node starts an operation on V; only A's event queue gets the skip-trace.
            try await a.deliverEvent(
                VmSkipTraceData(vmUuid: vm, apiId: MessageID.random(),
                                msgName: "org.zstack.header.vm.MigrateVmMsg", managementNodeId: mn),
                from: mn)
            #expect(try await storeSays(.skipped, about: vm, in: b.inventory), "A wrote no skip row")
            #expect(await b.runtime.skipRegistry.status().operations == 0, "B must not know the skip")

            let sent = b.stateChangesSent
            try await b.syncVms(onHost: h1)
            #expect(agent.receivedRequests(path: "/vm/vmsync").count { $0.hostUuid == h1 } == 1)
            #expect(b.stateChangesSent == sent, "B called V missing although A holds its skip")
            #expect(b.metrics[WorkerCounter.tracerSuppressed(.sharedSkip)] == 1)
            #expect(try await b.inventory.vm(uuid: vm)?.state == .running)

            // The continue-trace reaches A only too: the row goes, and B's next sync judges V.
            try await a.deliverEvent(VmContinueTraceData(vmUuid: vm, managementNodeId: mn), from: mn)
            #expect(try await storeSays(nil, about: vm, in: b.inventory), "A did not delete the row")
            try await b.syncVms(onHost: h1)
            #expect(b.stateChangesSent == sent + 1, "without the skip, V is missing: one Stopped verdict")
            let row = try await b.vm(vm, within: .seconds(20)) { $0.state == .stopped }
            #expect(row?.state == .stopped)
        }
    }

    @Test("an orphan recorded by A (its management node left) protects V at B within the TTL")
    func orphanAtAProtectsAtB() async throws {
        try await withTwoWorkers { a, b, _, h1, cluster in
            let departed = NodeUUID.random().rawValue, survivor = NodeUUID.random().rawValue
            let vm = MessageID.random()
            try await a.inventory.upsertVms([
                VmRecord(uuid: vm, state: .starting, hostUuid: nil, lastHostUuid: h1,
                         clusterUuid: cluster),
            ])

            // The start's skip-trace and its node's NodeLeft reach A only: A holds V as an orphan.
            try await a.deliverEvent(
                VmSkipTraceData(vmUuid: vm, msgName: "org.zstack.header.vm.StartVmInstanceMsg",
                                managementNodeId: departed),
                from: departed)
            try await a.deliverEvent(
                ManagementNodeLifeCycleData(nodeUuid: departed, lifeCycle: .nodeLeft), from: survivor)
            #expect(await a.registry { await $0.isOrphanSkipped(vm) })
            #expect(try await storeSays(.skipped, about: vm, in: b.inventory))
            #expect(await !b.runtime.skipRegistry.isOrphanSkipped(vm))

            let sent = b.stateChangesSent
            try await b.syncVms(onHost: h1)
            #expect(b.stateChangesSent == sent, "a false Stopped verdict: HA would start V twice")
            #expect(try await b.inventory.vm(uuid: vm)?.state == .starting)
        }
    }
}
