import AMQP
import Foundation
import Inventory
import Logging
import Synchronization
import Testing
@testable import Worker

/// A test store over the real SQLite store: reads go straight through; each store counts its writes its own way.
protocol SQLiteBacked: AnsweredMessageStore {
    var inner: SQLiteInventory { get }
}

extension SQLiteBacked {
    func loadAnsweredMessages(limit: Int) async throws -> [AnsweredMessage] {
        try await inner.loadAnsweredMessages(limit: limit)
    }
    func answeredMessageIds(limit: Int) async throws -> [(id: String, hasReply: Bool)] {
        try await inner.answeredMessageIds(limit: limit)
    }
    func answeredMessage(id: String) async throws -> AnsweredMessage? { try await inner.answeredMessage(id: id) }
}

@Suite("Answer journal: group commit with a linger")
struct AnswerJournalTests {
    /// The real SQLite store, counting its transactions.
    final class CountingStore: SQLiteBacked {
        let inner: SQLiteInventory
        let batches = Mutex<[Int]>([])

        init() throws { inner = try SQLiteInventory.inMemory() }

        func recordAnsweredMessages(_ answers: [AnsweredMessage], keepingLast: Int, removingOutbox sent: [Int64])
            async throws
        {
            batches.withLock { $0.append(answers.count) }
            try await inner.recordAnsweredMessages(answers, keepingLast: keepingLast, removingOutbox: sent)
        }
    }

    /// The real SQLite store committing on the journal's thread, counting its transactions by the way they came.
    final class CountingBlockingStore: SQLiteBacked, BlockingAnswerRecorder {
        let inner: SQLiteInventory
        let blockingBatches = Mutex<[Int]>([])
        let awaitedBatches = Mutex<[Int]>([])
        /// When set, every blocking commit waits for it first (holding the journal's thread inside a write).
        let commitGate: Gate?

        init(commitGate: Gate? = nil) throws {
            inner = try SQLiteInventory.inMemory()
            self.commitGate = commitGate
        }

        func recordAnsweredMessages(_ answers: [AnsweredMessage], keepingLast: Int, removingOutbox sent: [Int64])
            async throws
        {
            awaitedBatches.withLock { $0.append(answers.count) }
            try await inner.recordAnsweredMessages(answers, keepingLast: keepingLast, removingOutbox: sent)
        }
        func recordAnsweredMessagesBlocking(
            _ answers: [AnsweredMessage], keepingLast: Int, removingOutbox sent: [Int64]
        ) throws {
            commitGate?.wait()
            blockingBatches.withLock { $0.append(answers.count) }
            try inner.recordAnsweredMessagesBlocking(answers, keepingLast: keepingLast, removingOutbox: sent)
        }
    }

    /// A gate the journal's linger waits on (blocking the journal's thread, as the real linger's sleep does) until
    /// the test opens it; open for good once opened.
    final class Gate: Sendable {
        private let opened = DispatchSemaphore(value: 0)
        func wait() {
            opened.wait()
            opened.signal()
        }
        func open() { opened.signal() }
    }

    private static func answer(_ index: Int) -> AnsweredMessage {
        AnsweredMessage(id: String(format: "%032x", index), reply: Array("reply \(index)".utf8), answeredAtEpochMillis: 1)
    }

    /// Records answer `index` as a delivery's, tagged `index`, settled by `settler`.
    private static func record(_ index: Int, on journal: AnswerJournal, by settler: RecordingSettler) {
        let answer = Self.answer(index)
        let tag = DeliveryTag(epoch: 1, value: UInt64(index), acknowledgeable: true)
        journal.record(answer, removingOutbox: [], settling: tag, answer: Answer(reply: answer.reply), by: settler)
    }

    @Test("answers that arrive while the first one lingers share its transaction; each is settled once it is committed")
    func lingeringAnswersShareOneCommit() async throws {
        let store = try CountingStore()
        let settler = RecordingSettler { !store.batches.withLock { $0 }.isEmpty }
        let gate = Gate()
        let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: .custom { gate.wait() })
        for index in 0..<3 { Self.record(index, on: journal, by: settler) }
        // All three wait for the batch before anything is written.
        #expect(journal.pendingCount == 3)
        #expect(store.batches.withLock { $0 }.isEmpty)
        #expect(settler.settled.withLock { $0 }.isEmpty)
        gate.open()
        #expect(await journal.written(within: .seconds(60)))
        #expect(store.batches.withLock { $0 } == [3])
        #expect(settler.settled.withLock { $0.map(\.tag.value) } == [0, 1, 2])
        #expect(Set(try await store.answeredMessageIds(limit: 10).map(\.id)) == Set((0..<3).map { Self.answer($0).id }))
        // Once the batch is written, a later answer starts a batch of its own (and lingers again).
        Self.record(7, on: journal, by: settler)
        #expect(await journal.written(within: .seconds(60)))
        #expect(store.batches.withLock { $0 } == [3, 1])
    }

    @Test("a store that commits on its caller is written from the journal's thread, batches shared the same way")
    func blockingStoreCommitsOnTheJournalsThread() async throws {
        let store = try CountingBlockingStore()
        let settler = RecordingSettler { !store.blockingBatches.withLock { $0 }.isEmpty }
        let gate = Gate()
        let journal = AnswerJournal(store: store, capacity: 2, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: .custom { gate.wait() })
        // Queued in order, so which answer the window drops is known.
        for index in 0..<3 { Self.record(index, on: journal, by: settler) }
        #expect(store.blockingBatches.withLock { $0 }.isEmpty)
        gate.open()
        #expect(await journal.written(within: .seconds(60)))
        #expect(store.blockingBatches.withLock { $0 } == [3])
        #expect(store.awaitedBatches.withLock { $0 }.isEmpty)
        // The window (capacity 2) is kept by the blocking write as by the async one: the oldest answer is gone.
        #expect(try await store.answeredMessageIds(limit: 10).map(\.id) == [Self.answer(1).id, Self.answer(2).id])
        Self.record(7, on: journal, by: settler)
        #expect(await journal.written(within: .seconds(60)))
        #expect(store.blockingBatches.withLock { $0 } == [3, 1])
        #expect(try await store.answeredMessage(id: Self.answer(7).id) == Self.answer(7))
    }

    @Test("answers that arrive while a batch is written linger too before theirs: a trickle pays one commit per linger")
    func answersArrivingDuringACommitLingerBeforeTheirBatch() async throws {
        let commitGate = Gate()
        let store = try CountingBlockingStore(commitGate: commitGate)
        let settler = RecordingSettler { !store.blockingBatches.withLock { $0 }.isEmpty }
        let lingers = Atomic<Int>(0)
        let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: .custom { lingers.add(1, ordering: .relaxed) })
        Self.record(0, on: journal, by: settler)
        // The first batch is taken (nothing pending) and its commit waits at the gate; two answers arrive meanwhile.
        while journal.pendingCount > 0 || lingers.load(ordering: .relaxed) < 1 { await Task.yield() }
        for index in 1...2 { Self.record(index, on: journal, by: settler) }
        #expect(journal.pendingCount == 2)
        #expect(lingers.load(ordering: .relaxed) == 1)
        commitGate.open()
        #expect(await journal.written(within: .seconds(60)))
        #expect(store.blockingBatches.withLock { $0 } == [1, 2])
        // The second batch lingered before it was taken, as the first did, and a third linger (after the deliveries
        // were settled, so waited for here) finds nothing and ends the spell. Without the rule: one linger, the second
        // batch written at once.
        let deadline = ContinuousClock.now + .seconds(10)
        while lingers.load(ordering: .relaxed) < 3, ContinuousClock.now < deadline { await Task.yield() }
        #expect(lingers.load(ordering: .relaxed) == 3)
    }

    @Test("a batch is written once `fullAt` answers wait, without waiting out its limit")
    func aFullBatchEndsItsLinger() async throws {
        let store = try CountingBlockingStore()
        let settler = RecordingSettler { !store.blockingBatches.withLock { $0 }.isEmpty }
        // An hour's limit: only a full batch can end these lingers within the test's bounds.
        let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: .upTo(.seconds(3600), fullAt: 3))
        for index in 0..<2 { Self.record(index, on: journal, by: settler) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(store.blockingBatches.withLock { $0 }.isEmpty, "a batch short of full was written")
        Self.record(2, on: journal, by: settler)
        // Polled, not `written(within:)`: a drain's barrier waits for the batch after the one being written, which
        // here lingers for the hour.
        try await Self.waitUntil(settler, hasSettled: 3)
        #expect(store.blockingBatches.withLock { $0 } == [3])
        // The next batch lingers afresh: the signal that ended the first one is not left over to end it early.
        for index in 3..<5 { Self.record(index, on: journal, by: settler) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(store.blockingBatches.withLock { $0 } == [3], "a batch short of full was written")
        Self.record(5, on: journal, by: settler)
        try await Self.waitUntil(settler, hasSettled: 6)
        #expect(store.blockingBatches.withLock { $0 } == [3, 3])
        #expect(settler.settled.withLock { $0.map(\.tag.value) } == [0, 1, 2, 3, 4, 5])
    }

    /// Waits (bounded, 60 s) until `settler` has settled `count` deliveries.
    private static func waitUntil(_ settler: RecordingSettler, hasSettled count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while settler.settled.withLock({ $0.count < count }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(settler.settled.withLock { $0.count } == count)
    }

    @Test("a prefetch under 8 writes every answer at once; larger ones end a linger at a quarter of the prefetch")
    func theWorkersLingerFollowsThePrefetch() async throws {
        guard case .upTo(let limit, let fullAt) = AnswerJournal.Linger.forPrefetch(256) else {
            Issue.record("the worker's linger is not a bounded one")
            return
        }
        #expect(limit == .milliseconds(6))
        #expect(fullAt == 64)
        guard case .upTo(_, let single) = AnswerJournal.Linger.forPrefetch(1),
              case .upTo(_, let seven) = AnswerJournal.Linger.forPrefetch(7) else {
            Issue.record("the worker's linger is not a bounded one")
            return
        }
        #expect(single == 1)
        #expect(seven == 1)
        // `fullAt: 1` writes an answer as it comes, however long the limit.
        let store = try CountingBlockingStore()
        let settler = RecordingSettler { !store.blockingBatches.withLock { $0 }.isEmpty }
        let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: .upTo(.seconds(3600), fullAt: 1))
        Self.record(0, on: journal, by: settler)
        try await Self.waitUntil(settler, hasSettled: 1)
        Self.record(1, on: journal, by: settler)
        try await Self.waitUntil(settler, hasSettled: 2)
        #expect(store.blockingBatches.withLock { $0 } == [1, 1])
    }

    @Test("releasing the journal ends a linger and writes what waits in it")
    func releasingTheJournalEndsALinger() async throws {
        let store = try CountingBlockingStore()
        let settler = RecordingSettler { !store.blockingBatches.withLock { $0 }.isEmpty }
        do {
            let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(),
                                        logger: Logger(label: "test"), linger: .upTo(.seconds(3600), fullAt: 100))
            Self.record(0, on: journal, by: settler)
            #expect(journal.pendingCount == 1)
        }
        try await Self.waitUntil(settler, hasSettled: 1)
        #expect(store.blockingBatches.withLock { $0 } == [1])
        #expect(try await store.answeredMessage(id: Self.answer(0).id) == Self.answer(0))
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    /// Records what the journal settles, and whether the store had been written (`stored`) when it did.
    final class RecordingSettler: AnswerSettler {
        private let stored: @Sendable () -> Bool
        let settled = Mutex<[(id: String, tag: DeliveryTag, stored: Bool)]>([])

        init(stored: @escaping @Sendable () -> Bool) { self.stored = stored }

        func answerWritten(id: String, answer: Answer, tag: DeliveryTag) {
            let stored = stored()
            settled.withLock { $0.append((id, tag, stored)) }
        }
    }

    @Test("a delivery's answer is settled from the journal's thread once its batch is written, and a drain waits for it")
    func deliveriesAreSettledOnceWritten() async throws {
        let store = try CountingBlockingStore()
        let settler = RecordingSettler { !store.blockingBatches.withLock { $0 }.isEmpty }
        let gate = Gate()
        let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: .custom { gate.wait() })
        #expect(await journal.written(within: .seconds(60)))  // nothing recorded: returns at once
        for index in 0..<2 {
            let tag = DeliveryTag(epoch: 1, value: UInt64(index + 10), acknowledgeable: true)
            journal.record(Self.answer(index), removingOutbox: [], settling: tag,
                           answer: Answer(reply: Self.answer(index).reply), by: settler)
        }
        #expect(journal.pendingCount == 2)
        #expect(settler.settled.withLock { $0.isEmpty })
        let drained = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                #expect(await journal.written(within: .seconds(60)))
                drained.set()
            }
            // The barrier waits for the lingering batch: nothing is written before the gate opens (time enough for a
            // barrier that did not wait to show).
            try await Task.sleep(for: .milliseconds(50))
            #expect(!drained.isSet)
            gate.open()
            try await group.waitForAll()
        }
        let settled = settler.settled.withLock { $0 }
        #expect(settled.map(\.id) == [Self.answer(0).id, Self.answer(1).id])
        #expect(settled.map(\.tag.value) == [10, 11])
        #expect(settled.allSatisfy { $0.stored }, "settled before the batch holding the answer was written")
        #expect(store.blockingBatches.withLock { $0 } == [2])
        #expect(try await store.answeredMessage(id: Self.answer(1).id) == Self.answer(1))
    }

    @Test("a drain's wait for the last batch is bounded: a store that hangs does not hold the shutdown")
    func waitingForTheLastBatchIsBounded() async throws {
        let commitGate = Gate()
        let store = try CountingBlockingStore(commitGate: commitGate)
        let settler = RecordingSettler { !store.blockingBatches.withLock { $0 }.isEmpty }
        let journal = AnswerJournal(store: store, capacity: 100, metrics: WorkerMetrics(), logger: Logger(label: "test"),
                                    linger: .custom {})
        let tag = DeliveryTag(epoch: 1, value: 1, acknowledgeable: true)
        journal.record(Self.answer(0), removingOutbox: [], settling: tag, answer: Answer(reply: Self.answer(0).reply),
                       by: settler)
        #expect(await !journal.written(within: .milliseconds(50)), "returned written while the commit hangs")
        #expect(settler.settled.withLock { $0.isEmpty })
        commitGate.open()
        #expect(await journal.written(within: .seconds(60)))
        #expect(settler.settled.withLock { $0.map(\.tag.value) } == [1])
    }
}
