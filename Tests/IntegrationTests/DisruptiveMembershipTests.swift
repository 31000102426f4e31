import CloudBus
import CloudBusTesting
import Foundation
import Testing
import Worker

/// The hash ring follows `/managementnode/lifecycle`, and `publish --event` broadcasts an event as a management
/// node would: what an operator uses to tell the workers a node joined or left.
///
/// Lifecycle events reach every worker on the broker and change who owns what in all of them, so this suite runs
/// alone (the `Disruptive` prefix puts it in the serial phase of `make test`) and leaves every ring as it found it.
@Suite("Membership from lifecycle events", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveMembershipTests {
    @Test("NodeJoin published with the CLI adds the node to the ring; NodeLeft removes it; the worker itself stays")
    func joinAndLeave() async throws {
        try await withWorker { harness in
            let other = NodeUUID.random().rawValue
            func lifecycle(_ node: String, _ change: String) throws -> Data {
                let content = ManagementNodeLifeCycleData(nodeUuid: node,
                                                          lifeCycle: .init(rawValue: change)!)
                return try CanonicalEvent.envelope(content: content, managementNodeId: other).encoded()
            }
            let joined = try CLIProcess.run(["publish", "--event"], input: try lifecycle(other, "NodeJoin"))
            #expect(joined.status == 0, "\(joined.errors)")
            #expect(try await eventually { harness.runtime.membership.members.contains(other) })

            let left = try CLIProcess.run(["publish", "--event"], input: try lifecycle(other, "NodeLeft"))
            #expect(left.status == 0, "\(left.errors)")
            #expect(try await eventually { !harness.runtime.membership.members.contains(other) })

            // A NodeLeft naming this worker (a stale or forged event) does not take it off its own ring.
            try await harness.publishEvent(ManagementNodeLifeCycleData(nodeUuid: harness.node.rawValue, lifeCycle: .nodeLeft),
                                           from: other)
            try await harness.publishEvent(ManagementNodeLifeCycleData(nodeUuid: other, lifeCycle: .nodeJoin), from: other)
            #expect(try await eventually { harness.runtime.membership.members.contains(other) })
            #expect(harness.runtime.membership.members.contains(harness.node.rawValue))
            try await harness.publishEvent(ManagementNodeLifeCycleData(nodeUuid: other, lifeCycle: .nodeLeft), from: other)
            #expect(try await eventually { !harness.runtime.membership.members.contains(other) })
        }
    }

    @Test("publish --event refuses a body that is not a canonical event (exit 3) and sends nothing")
    func refusesNonEvents() throws {
        let result = try CLIProcess.run(["publish", "--event"],
                                        input: Data(#"{"cloudbus.worker.EchoMsg":{"payload":"x"}}"#.utf8))
        #expect(result.status == 3, "\(result.errors)")
        #expect(result.errors.contains("EchoMsg"))
        let garbage = try CLIProcess.run(["publish", "--event"], input: Data("{not json".utf8))
        #expect(garbage.status == 3, "\(garbage.errors)")
    }
}

/// `trustedSenders` for lifecycle events: with management nodes named, the ring ignores everyone else's
/// NodeJoin/NodeLeft. Runs alone for the same reason as the suite above, and leaves every ring as it found it.
@Suite("Trusted senders: lifecycle events", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveTrustedLifecycleTests {
    @Test("a NodeJoin from an untrusted sender is ignored and counted; from a trusted one it is applied")
    func lifecycleFromTrustedNodesOnly() async throws {
        let trusted = NodeUUID.random().rawValue, stranger = NodeUUID.random().rawValue
        try await withWorker(configure: { $0.trustedSenders = [trusted] }) { harness in
            let other = NodeUUID.random().rawValue
            try await harness.publishEvent(ManagementNodeLifeCycleData(nodeUuid: other, lifeCycle: .nodeJoin),
                                           from: stranger)
            #expect(try await eventually { harness.metrics[WorkerCounter.untrustedEvents] == 1 })
            #expect(!harness.runtime.membership.members.contains(other), "an untrusted NodeJoin changed the ring")

            try await harness.publishEvent(ManagementNodeLifeCycleData(nodeUuid: other, lifeCycle: .nodeJoin),
                                           from: trusted)
            #expect(try await eventually { harness.runtime.membership.members.contains(other) })
            try await harness.publishEvent(ManagementNodeLifeCycleData(nodeUuid: other, lifeCycle: .nodeLeft),
                                           from: trusted)
            #expect(try await eventually { !harness.runtime.membership.members.contains(other) })
        }
    }
}
