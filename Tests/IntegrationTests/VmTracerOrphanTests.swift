import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Primitives
import Testing
import Worker

/// The skip registry's orphans through the bus: skip-trace, NodeLeft and continue-trace events from fake
/// management nodes, real sync rounds against a fake agent, and the worker's own VM handler applying verdicts.
@Suite("VM tracer orphans through the broker", .enabled(if: TestBroker.available))
struct VmTracerOrphanTests {
    private func host(_ uuid: String, agent: FakeKVMAgent, cluster: String) -> HostRecord {
        HostRecord(uuid: uuid, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected,
                   clusterUuid: cluster)
    }

    @Test("scenarios 25, 27, 33, 28: NodeLeft keeps both VMs protected; a continue-trace unprotects one; the TTL the other")
    func nodeLeftKeepsProtection() async throws {
        try await FakeKVMAgent.withRunning { agent in
            let events = try await EventProbe.open()
            try await withWorker { harness in
                let departed = NodeUUID.random().rawValue, survivor = NodeUUID.random().rawValue
                let cluster = MessageID.random(), h1 = MessageID.random()
                let v1 = MessageID.random(), v2 = MessageID.random()
                try await harness.inventory.upsertHosts([host(h1, agent: agent, cluster: cluster)])
                try await harness.inventory.upsertVms([v1, v2].map {
                    VmRecord(uuid: $0, state: .running, hostUuid: h1, clusterUuid: cluster)
                })
                agent.setVMReport(FakeKVMAgent.HostVMReport(), host: h1)  // H1 reports neither VM

                // Scenario 25: X's two in-flight operations become orphans when X leaves.
                try await harness.orphan([v1, v2], ofDepartedNode: departed, reportedBy: survivor)
                let status = await harness.runtime.skipRegistry.status()
                #expect(status.orphans >= 2)

                // Scenario 27: within the TTL, H1 missing both VMs sends nothing.
                let sent = harness.stateChangesSent, handled = harness.verdictsHandled
                try await harness.syncVms(onHost: h1)
                #expect(agent.receivedRequests(path: "/vm/vmsync").count { $0.hostUuid == h1 } == 1)
                #expect(harness.stateChangesSent == sent, "no verdict for an orphaned VM within the TTL")
                for vm in [v1, v2] {
                    #expect(try await harness.inventory.vm(uuid: vm)?.state == .running)
                }

                // Scenario 33: a continue-trace for V1 from any node (here one never seen) ends V1's protection at once.
                try await harness.broadcast(VmContinueTraceData(vmUuid: v1, managementNodeId: survivor), from: survivor)
                #expect(await harness.registry { !(await $0.isOrphanSkipped(v1)) })
                #expect(await harness.runtime.skipRegistry.isOrphanSkipped(v2))
                try await harness.syncVms(onHost: h1)
                #expect(harness.stateChangesSent == sent + 1, "only V1 is judged")
                try await harness.waitForVerdictsHandled(handled + 1)
                let v1Row = try await harness.inventory.vm(uuid: v1)
                #expect(v1Row?.state == .stopped)
                #expect(v1Row?.hostUuid == nil)
                #expect(v1Row?.lastHostUuid == h1)
                #expect(try await harness.inventory.vm(uuid: v2)?.state == .running)
                if harness.outputsConfirmed {
                    let stopped = await events.waitFor(VmTracerStateChangedData.path) { $0["vmUuid"]?.stringValue == v1 }
                    #expect(stopped?.content["from"]?.stringValue == "Running")
                    #expect(stopped?.content["to"]?.stringValue == "Stopped")
                    #expect(stopped?.content["originalHostUuid"]?.stringValue == h1)
                }
                // A continued orphan did not expire: no cross-check of the cluster.
                #expect(harness.metrics[WorkerCounter.stoppedVerdictsSuppressed] == 0)

                // Scenario 28: once the TTL has passed, V2 is judged too (H1 is alone in its cluster, so the guard's
                // cross-check finds nobody running it).
                try await harness.updateSetting("kvm.orphanedVmSkipTimeout", to: "1")
                #expect(await harness.registry { await $0.orphanExpiredRecently(v2) })
                try await harness.syncVms(onHost: h1)
                #expect(harness.stateChangesSent == sent + 2)
                try await harness.waitForVerdictsHandled(handled + 2)
                #expect(try await harness.inventory.vm(uuid: v2)?.state == .stopped)
                #expect(!(await harness.runtime.skipRegistry.isOrphanSkipped(v2)))
            }
            await events.close()
        }
    }

    @Test("beyond the original (scenario 38): a worker restarted on the same data keeps the orphan and its protection")
    func restartKeepsOrphan() async throws {
        try await FakeKVMAgent.withRunning { agent in
            let data = try KeptDataDirectory()
            defer { data.remove() }
            let node = NodeUUID.random()
            let departed = NodeUUID.random().rawValue, survivor = NodeUUID.random().rawValue
            let cluster = MessageID.random(), h1 = MessageID.random(), vm = MessageID.random()
            agent.setVMReport(FakeKVMAgent.HostVMReport(), host: h1)

            let firstLink = try data.link()
            try await withWorker(node: node, configure: { $0.dataDirectory = firstLink }) { first in
                try await first.inventory.upsertHosts([host(h1, agent: agent, cluster: cluster)])
                try await first.inventory.upsertVms([VmRecord(uuid: vm, state: .running, hostUuid: h1, clusterUuid: cluster)])
                try await first.orphan([vm], ofDepartedNode: departed, reportedBy: survivor)
                // Write-through: the orphan reaches the store on its own (nobody flushes at shutdown).
                var stored = false
                for _ in 0..<500 where !stored {
                    stored = try await first.inventory.loadSkipRegistry().orphans.contains { $0.vmUuid == vm }
                    if !stored { try await Task.sleep(for: .milliseconds(20)) }
                }
                #expect(stored, "V's orphan entry was not written to the inventory")
            }
            try #require(data.inventoryExists, "stopping the first worker removed the kept data directory")

            let secondLink = try data.link()
            try await withWorker(node: node, configure: { $0.dataDirectory = secondLink }) { second in
                #expect(second.node == node)
                #expect(try await second.inventory.vm(uuid: vm)?.state == .running, "the restart kept the inventory")
                #expect(await second.runtime.skipRegistry.isOrphanSkipped(vm), "the restart kept V's orphan entry")

                let sent = second.stateChangesSent
                try await second.syncVms(onHost: h1)
                #expect(agent.receivedRequests(path: "/vm/vmsync").count { $0.hostUuid == h1 } == 1)
                #expect(second.stateChangesSent == sent, "the reloaded orphan suppresses the missing-VM verdict")
                #expect(try await second.inventory.vm(uuid: vm)?.state == .running)

                // The same round without the orphan does judge V: the suppression above was the orphan's doing.
                try await second.broadcast(VmContinueTraceData(vmUuid: vm, managementNodeId: survivor), from: survivor)
                #expect(await second.registry { !(await $0.isOrphanSkipped(vm)) })
                let handled = second.verdictsHandled
                try await second.syncVms(onHost: h1)
                #expect(second.stateChangesSent == sent + 1)
                try await second.waitForVerdictsHandled(handled + 1)
                #expect(try await second.inventory.vm(uuid: vm)?.state == .stopped)
            }
        }
    }
}
