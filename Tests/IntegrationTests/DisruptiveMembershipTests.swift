import KVM
import KVMMessages
import CloudBus
import CloudBusTesting
import Foundation
import Testing
import Worker

/// A management node's `/managementnode/lifecycle` events keep one job in the worker: a NodeLeft turns that node's
/// skips into orphans. They never change the worker ring (a Java management node is not a worker and will never
/// serve the hosts the ring would give it). `publish --event` broadcasts an event as a management node would.
///
/// Lifecycle events reach every worker on the broker, so this suite runs alone (the `Disruptive` prefix puts it in
/// the serial phase of `make test`).
@Suite("Management-node lifecycle events and the worker ring", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveMembershipTests {
    @Test("a management node's NodeJoin and NodeLeft, published with the CLI, leave the worker ring as it was")
    func managementNodesDoNotJoinTheRing() async throws {
        let seed = NodeUUID.random()
        try await withWorker(configure: { $0.ringNodes = [seed.rawValue] }) { harness in
            let ring = harness.runtime.membership.members
            #expect(ring == [harness.node.rawValue, seed.rawValue])
            let other = NodeUUID.random().rawValue
            func lifecycle(_ node: String, _ change: String) throws -> Data {
                let content = ManagementNodeLifeCycleData(nodeUuid: node, lifeCycle: .init(rawValue: change)!)
                return try CanonicalEvent.envelope(content: content, managementNodeId: other).encoded()
            }
            let received = harness.metrics[WorkerCounter.events]
            let joined = try await CLIProcess.run(["publish", "--event"], input: try lifecycle(other, "NodeJoin"))
            #expect(joined.status == 0, "\(joined.errors)")
            let left = try await CLIProcess.run(["publish", "--event"], input: try lifecycle(seed.rawValue, "NodeLeft"))
            #expect(left.status == 0, "\(left.errors)")
            // Both events were handled (counted) and neither changed the ring.
            #expect(try await eventually { harness.metrics[WorkerCounter.events] >= received + 2 })
            #expect(harness.runtime.membership.members == ring)
        }
    }

    @Test("publish --event refuses a body that is not a canonical event (exit 3) and sends nothing")
    func refusesNonEvents() async throws {
        let result = try await CLIProcess.run(["publish", "--event"],
                                              input: Data(#"{"cloudbus.worker.EchoMsg":{"payload":"x"}}"#.utf8))
        #expect(result.status == 3, "\(result.errors)")
        #expect(result.errors.contains("EchoMsg"))
        let garbage = try await CLIProcess.run(["publish", "--event"], input: Data("{not json".utf8))
        #expect(garbage.status == 3, "\(garbage.errors)")
    }
}

/// `trustedSenders` for lifecycle events: with management nodes named, a NodeLeft from anyone else does not orphan
/// the departed node's skips. Runs alone for the same reason as the suite above.
@Suite("Trusted senders: lifecycle events", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveTrustedLifecycleTests {
    @Test("a NodeLeft from an untrusted sender is ignored and counted; from a trusted one it orphans the node's skips")
    func lifecycleFromTrustedNodesOnly() async throws {
        let trusted = NodeUUID.random().rawValue, stranger = NodeUUID.random().rawValue
        let owner = NodeUUID.random().rawValue, vm = MessageID.random()
        try await withWorker(configure: { $0.trustedSenders = [trusted, owner] }) { harness in
            try await harness.broadcast(
                VmSkipTraceData(vmUuid: vm, msgName: "org.zstack.header.vm.StartVmInstanceMsg", managementNodeId: owner),
                from: owner)
            #expect(await harness.registry { registry in
                let mark = await registry.beginRound()
                defer { Task { await registry.endRound(mark) } }
                return await registry.skipped(among: [vm], since: mark) == [vm]
            })
            try await harness.broadcast(ManagementNodeLifeCycleData(nodeUuid: owner, lifeCycle: .nodeLeft), from: stranger)
            #expect(try await eventually { harness.metrics[WorkerCounter.untrustedEvents] == 1 })
            #expect(!(await harness.runtime.skipRegistry.isOrphanSkipped(vm)), "an untrusted NodeLeft orphaned a skip")

            try await harness.broadcast(ManagementNodeLifeCycleData(nodeUuid: owner, lifeCycle: .nodeLeft), from: trusted)
            #expect(await harness.registry { await $0.isOrphanSkipped(vm) })
        }
    }
}
