import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// The dedupe window is in the store: a sender that retries after the worker restarted still gets the reply the
/// message got before, and the handler does not run a second time.
@Suite("Answers survive a worker restart", .enabled(if: TestBroker.available))
struct AnswersAcrossRestartTests {
    @Test("a retry after a restart gets the reply from before the restart; the handler does not run again")
    func retryAfterRestart() async throws {
        let data = try KeptDataDirectory()
        defer { data.remove() }
        let node = NodeUUID.random()
        let fields: [String: JSONValue] = ["payload": .string("before the restart"), "id": .string(MessageID.random())]

        let firstLink = try data.link()
        let first = try await withWorker(node: node, configure: { $0.dataDirectory = firstLink }) { harness in
            try await harness.call(EchoMsg.className, fields)
        }
        #expect(first.success)
        try #require(data.inventoryExists, "stopping the first worker removed the kept data directory")

        let secondLink = try data.link()
        try await withWorker(node: node, configure: { $0.dataDirectory = secondLink }) { harness in
            let again = try await harness.call(EchoMsg.className, fields)
            #expect(again.raw == first.raw, "the reply from before the restart, byte for byte")
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 0)
            #expect(try await eventually { harness.metrics[WorkerCounter.repliesResent] == 1 })
        }
    }
}
