import CloudBus
import CloudBusTesting
import Foundation
import Testing
import Worker

/// Two workers with different node UUIDs on one broker: each consumes only its own queues, and
/// `publish --resource` picks the owner the way a Java management node would (ZStack's ring).
@Suite("Scaling out by queue", .enabled(if: TestBroker.available), .serialized)
struct ScaleOutTests {
    static let nodeA = NodeUUID("446d0be655ec32fc9922965af3bd984f")!
    static let nodeB = NodeUUID("9b1d387e11bd3ab0a673c655eb4c8f66")!

    /// Owners from the wire reference (computed there with Java's commons-lang), not from our ring.
    static let vectors: [(resource: String, owner: NodeUUID)] = [
        ("5ea9605b1d754077b2c9dfca05fc904b", nodeB),
        ("0123456789abcdef0123456789abcdef", nodeA),
        ("7dd11952b3c94fd5bbe94a140d7fbac6", nodeA),
        ("ffffffffffffffffffffffffffffffff", nodeB),
    ]

    @Test("publish --resource reaches the owning worker, and only it")
    func eachMessageReachesItsOwner() async throws {
        try await withWorker(node: Self.nodeA) { workerA in
            try await withWorker(node: Self.nodeB) { workerB in
                let nodes = "\(Self.nodeA.rawValue),\(Self.nodeB.rawValue)"
                for (resource, owner) in Self.vectors {
                    // Echoes only: every worker on the broker also handles the canonical events other suites broadcast.
                    let echoes = WorkerCounter.handled(EchoMsg.className)
                    let before = (a: workerA.metrics[echoes], b: workerB.metrics[echoes])
                    let message = Data(#"{"cloudbus.worker.EchoMsg":{"payload":"\#(resource)"}}"#.utf8)
                    let result = try await CLIProcess.run(["publish", "--resource", resource, "--nodes", nodes, "--timeout", "10"],
                                                          input: message)
                    #expect(result.status == 0, "publish failed: \(result.errors)")
                    #expect(result.output.contains(resource))
                    // The counter moves once the worker has its reply's confirm, a moment after the caller has the reply.
                    let (owning, other) = owner == Self.nodeA ? (workerA, workerB) : (workerB, workerA)
                    let owningBefore = owner == Self.nodeA ? before.a : before.b
                    let otherBefore = owner == Self.nodeA ? before.b : before.a
                    #expect(try await eventually { owning.metrics[echoes] == owningBefore + 1 },
                            "\(resource) should reach \(owner)")
                    #expect(other.metrics[echoes] == otherBefore, "\(resource) must not reach the other worker")
                }
            }
        }
    }

    @Test("the CLI's exit status reflects the reply: 1 for an error reply, 2 for no reply")
    func exitStatus() async throws {
        try await withWorker { worker in
            let unknown = try await CLIProcess.run(["publish", "--service", "host", "--node", worker.node.rawValue, "--timeout", "10"],
                                                   input: Data(#"{"org.zstack.NoSuchMsg":{}}"#.utf8))
            #expect(unknown.status == 1)
            #expect(unknown.output.contains("SYS.1008"))
            let nobody = try await CLIProcess.run(["publish", "--service", "host", "--node", NodeUUID.random().rawValue, "--timeout", "2"],
                                                  input: Data(#"{"cloudbus.worker.EchoMsg":{}}"#.utf8))
            #expect(nobody.status == 2)
        }
    }
}
