import CoreMetrics
import Inventory
import Logging
import Primitives
import Synchronization

/// Writes the ledger's answers to the store with group commit: every answer waits for the transaction that holds
/// it — so a delivery is acked only once its answer is on disk — but concurrent answers share one transaction. While
/// one batch is being written the next one fills, so a burst costs one transaction per write time, not one per
/// message. A batch also waits `linger` (2 ms) before it is written: at a steady trickle (one request in flight,
/// a message every millisecond) each answer would otherwise pay a commit and its fsync of its own — the largest
/// single cost of a message at low load. The wait delays only the ack, never the reply, which went out before.
///
/// A failed write is logged and counted, and the answers it held wait no longer: the window for them is in memory
/// only, which costs a second execution of a duplicate after a restart — never a stuck delivery.
final class AnswerJournal: Sendable {
    private struct State {
        var pending: [AnsweredMessage] = []
        var sentOutbox: [Int64] = []
        var waiters: [OneShotContinuation<Void>] = []
        var writing = false
        /// The last batch's arrays, emptied: the next batch fills them instead of growing new ones.
        var spareAnswers: [AnsweredMessage] = []
        var spareWaiters: [OneShotContinuation<Void>] = []
    }

    /// Batch arrays grown past this (a burst) are not kept for the next batch.
    private static let keptBatchCapacity = 1024

    private let store: any AnsweredMessageStore
    /// Rows kept in the store: the ledger's window.
    private let capacity: Int
    /// What the first answer of a batch waits for before the batch is written: `linger` of sleep (tests pass a gate).
    private let linger: @Sendable () async -> Void
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let state = Mutex(State())

    init(store: any AnsweredMessageStore, capacity: Int, metrics: WorkerMetrics, logger: Logger,
         linger: @escaping @Sendable () async -> Void = { try? await Task.sleep(for: .milliseconds(2)) }) {
        self.store = store
        self.capacity = capacity
        self.linger = linger
        self.metrics = metrics
        self.logger = logger
    }

    /// Returns once `answer` is committed (or its write failed), with the outbox rows `sent` removed in the same
    /// transaction.
    func record(_ answer: AnsweredMessage, removingOutbox sent: [Int64] = []) async {
        await withOneShotContinuation { (continuation: OneShotContinuation<Void>) in
            let startWriter = state.withLock { state in
                state.pending.append(answer)
                state.sentOutbox += sent
                state.waiters.append(continuation)
                guard !state.writing else { return false }
                state.writing = true
                return true
            }
            if startWriter { Task { await self.writeBatches() } }
        }
    }

    /// Answers waiting for their batch (for tests).
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Writes batches until none is pending; only one writer runs at a time.
    private func writeBatches() async {
        await linger()
        while true {
            var (batch, sent, waiters) = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.writing = false
                    return ([AnsweredMessage](), [Int64](), [OneShotContinuation<Void>]())
                }
                var batch = state.spareAnswers, waiters = state.spareWaiters
                swap(&batch, &state.pending)
                swap(&waiters, &state.waiters)
                state.spareAnswers = []
                state.spareWaiters = []
                defer { state.sentOutbox = [] }
                return (batch, state.sentOutbox, waiters)
            }
            guard !batch.isEmpty else { return }
            do {
                try await store.recordAnsweredMessages(batch, keepingLast: capacity, removingOutbox: sent)
                metrics.answerBatches.increment()
            } catch {
                metrics.answerJournalFailures.increment()
                logger.error("could not persist answered message ids; duplicates of them after a restart run again",
                             metadata: ["count": "\(batch.count)", "error": "\(error)"])
            }
            for waiter in waiters { waiter.resume() }
            guard batch.capacity <= Self.keptBatchCapacity, waiters.capacity <= Self.keptBatchCapacity else { continue }
            // Emptied in place — these `var`s hold the only references, so no copy is made — and handed over.
            batch.removeAll(keepingCapacity: true)
            waiters.removeAll(keepingCapacity: true)
            sent = []  // not kept: outbox rows are rare
            state.withLock { state in
                swap(&state.spareAnswers, &batch)
                swap(&state.spareWaiters, &waiters)
            }
        }
    }
}
