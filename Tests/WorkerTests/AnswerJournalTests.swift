import Foundation
import Inventory
import Logging
import Synchronization
import Testing
@testable import Worker

@Suite("Answer journal: group commit with a linger")
struct AnswerJournalTests {
    /// The real SQLite store, counting its transactions.
    final class CountingStore: AnsweredMessageStore {
        let inner: SQLiteInventory
        let batches = Mutex<[Int]>([])

        init() throws { inner = try SQLiteInventory.inMemory() }

        func loadAnsweredMessages(limit: Int) async throws -> [AnsweredMessage] {
            try await inner.loadAnsweredMessages(limit: limit)
        }
        func answeredMessageIds(limit: Int) async throws -> [(id: String, hasReply: Bool)] {
            try await inner.answeredMessageIds(limit: limit)
        }
        func answeredMessage(id: String) async throws -> AnsweredMessage? { try await inner.answeredMessage(id: id) }
        func recordAnsweredMessages(_ answers: [AnsweredMessage], keepingLast: Int, removingOutbox sent: [Int64])
            async throws
        {
            batches.withLock { $0.append(answers.count) }
            try await inner.recordAnsweredMessages(answers, keepingLast: keepingLast, removingOutbox: sent)
        }
    }

    /// A gate the journal's linger waits on until the test opens it.
    final class Gate: Sendable {
        private let opened = AsyncStream<Void>.makeStream()
        func wait() async { for await _ in opened.stream { return } }
        func open() { opened.continuation.finish() }
    }

    private static func answer(_ index: Int) -> AnsweredMessage {
        AnsweredMessage(id: String(format: "%032x", index), reply: Array("reply \(index)".utf8), answeredAtEpochMillis: 1)
    }

    @Test("answers that arrive while the first one lingers share its transaction; each caller returns once it is committed")
    func lingeringAnswersShareOneCommit() async throws {
        let store = try CountingStore()
        let gate = Gate()
        let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: { await gate.wait() })
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<3 { group.addTask { await journal.record(Self.answer(index)) } }
            // All three wait for the batch before anything is written.
            while journal.pendingCount < 3 { await Task.yield() }
            #expect(store.batches.withLock { $0 }.isEmpty)
            gate.open()
        }
        #expect(store.batches.withLock { $0 } == [3])
        #expect(Set(try await store.answeredMessageIds(limit: 10).map(\.id)) == Set((0..<3).map { Self.answer($0).id }))
        // Once the batch is written, a later answer starts a batch of its own (and lingers again).
        await journal.record(Self.answer(7))
        #expect(store.batches.withLock { $0 } == [3, 1])
    }
}
