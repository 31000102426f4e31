import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// Two processes with one node id would share its queues and break per-key order: the second one stops with an
/// error that says why, whether it shares the first one's data directory or runs elsewhere.
@Suite("One worker per node id", .enabled(if: TestBroker.available))
struct OneWorkerPerNodeTests {
    private static func startFails(_ start: () async throws -> Void, saying words: String) async -> Bool {
        do {
            try await start()
            return false
        } catch let error as WorkerStartError {
            return "\(error)".contains(words)
        } catch {
            Issue.record("unexpected error: \(error)")
            return false
        }
    }

    @Test("a second worker on the same data directory stops at once: the directory is locked")
    func sameDataDirectory() async throws {
        let node = NodeUUID.random()
        let directory = NSTemporaryDirectory() + "cbw-lock-\(node.rawValue)"
        try await withWorker(node: node, configure: { $0.dataDirectory = directory }) { first in
            let refused = await Self.startFails({
                try await withWorker(node: node, configure: { $0.dataDirectory = directory }) { _ in }
            }, saying: "another worker holds")
            #expect(refused, "a second worker started on a locked data directory")
            let echo = try await first.call(EchoMsg.className, ["payload": .string("still mine")])
            #expect(echo.success, "the first worker stopped serving")
        }
    }

    @Test("a second worker with the same node id elsewhere is refused by the broker: its queues are taken")
    func sameNodeElsewhere() async throws {
        let node = NodeUUID.random()
        try await withWorker(node: node, configure: { $0.dataDirectory = NSTemporaryDirectory() + "cbw-a-\(node.rawValue)" }) { first in
            let refused = await Self.startFails({
                try await withWorker(node: node, configure: {
                    $0.dataDirectory = NSTemporaryDirectory() + "cbw-b-\(node.rawValue)"
                }) { _ in }
            }, saying: "already consumes")
            #expect(refused, "two workers with one node id consumed the same queues")
            let echo = try await first.call(EchoMsg.className, ["payload": .string("still mine")])
            #expect(echo.success, "the first worker stopped serving")
        }
    }
}
