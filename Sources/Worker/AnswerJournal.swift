import AMQP
import CoreMetrics
import Dispatch
import Foundation
import Inventory
import Logging
import Primitives
import Synchronization

/// Writes the ledger's answers to the store with group commit: every answer waits for the transaction that holds
/// it — so a delivery is acked only once its answer is on disk — but concurrent answers share one transaction. While
/// one batch is being written the next one fills, so a burst costs one transaction per write time, not one per
/// message. Every batch also lingers before it is written (``Linger``: up to 6 ms, less once a quarter of the prefetch
/// waits in it): at a steady trickle (one request in flight,
/// a message every millisecond) each answer would otherwise pay a commit and its fsync of its own — the largest
/// single cost of a message at low load. The wait delays only the ack, never the reply, which went out before.
///
/// The batches are written from a thread of the journal's own, which sleeps through the linger and, with a store
/// that can commit on its caller (``BlockingAnswerRecorder``: SQLite — a file database's answer log, an in-memory
/// database's table), writes the batch itself: a batch wakes one
/// thread, where an async writer woke a pool thread for its task, one for the linger's timer, the store's queue and
/// a pool thread again for the commit's continuation. Other stores (PostgreSQL) are awaited from there.
///
/// A delivery's answer is settled from the journal's thread once written (``record(_:removingOutbox:settling:answer:by:)``):
/// the ledger learns the answer and the ack is posted there, so no task waits for the batch — an echo's handling task
/// ends with its reply's confirm instead of sleeping through the linger and being resumed once more for the ack.
///
/// A failed write is logged and counted, and the answers it held wait no longer: the window for them is in memory
/// only, which costs a second execution of a duplicate after a restart — never a stuck delivery.
///
/// The thread ends when the journal is released, after writing what is pending.
final class AnswerJournal: Sendable {
    private let writer: Writer

    /// - Parameter linger: what a batch waits for on the journal's thread before it is written. It blocks that
    ///   thread, never a task.
    init(store: any AnsweredMessageStore, capacity: Int, metrics: WorkerMetrics, logger: Logger,
         linger: Linger) {
        writer = Writer(store: store, capacity: capacity, linger: linger, metrics: metrics, logger: logger)
        let writer = writer
        let thread = Thread { writer.run() }
        thread.name = "cloudbus-journal"
        thread.start()
    }

    deinit { writer.stop() }

    /// Queues `answer` (and the removal of the outbox rows `sent`, in the same transaction) and returns at once; once
    /// the batch holding it is committed, or its write failed, `settler` settles `tag` with `settled` on the
    /// journal's thread.
    func record(_ answer: AnsweredMessage, removingOutbox sent: [Int64], settling tag: DeliveryTag,
                answer settled: Answer, by settler: any AnswerSettler) {
        writer.enqueue(answer, removingOutbox: sent, waiter: Waiter(tag: tag, answer: settled, settler: settler))
    }

    /// Returns true once every answer recorded before the call is committed (or its write failed) and settled, or
    /// false after `bound`: a drain waits for it before it closes the connection that takes the acks, and a store
    /// that hangs (its acks are not sent; the broker redelivers those messages) does not hold the shutdown.
    func written(within bound: Duration) async -> Bool {
        let outcome = FirstOutcome()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            outcome.set(continuation)
            writer.enqueueBarrier { outcome.finish(true) }
            Task {
                try? await Task.sleep(for: bound)
                outcome.finish(false)
            }
        }
    }

    /// Answers waiting for their batch (for tests).
    var pendingCount: Int { writer.pendingCount }
}

extension AnswerJournal {
    /// How long a batch waits for more answers before it is written. Every batch costs a `pwrite` and an `fdatasync`
    /// (the journal's largest cost: at W=100 each `fdatasync` was ~7 % of the worker's CPU in the kernel, its device
    /// kicks included), so the longer it waits the fewer it pays per answer — but its deliveries stay unacked
    /// meanwhile, holding prefetch slots. A batch is therefore written after `limit` or as soon as `fullAt` answers
    /// wait, whichever is first: with `fullAt` a quarter of the prefetch, a busy worker never runs out of slots
    /// waiting for its own journal, and a prefetch under 8 writes every answer at once (nothing else could arrive).
    enum Linger: Sendable {
        case upTo(Duration, fullAt: Int)
        /// A wait of the caller's (tests: a gate), ended when it returns.
        case custom(@Sendable () -> Void)

        /// The worker's: up to 6 ms (−7 % worker CPU per echo at W=100 and −12 % at W=1 against a fixed 2 ms), written
        /// early once a quarter of the prefetch waits.
        static func forPrefetch(_ prefetch: Int) -> Linger {
            .upTo(.milliseconds(6), fullAt: max(1, prefetch / 4))
        }
    }
}

/// Settles a delivery once its answer is written: called on the journal's thread, so it only takes locks and posts
/// (the ledger's, the connection's mailbox) and starts a task for anything that waits.
protocol AnswerSettler: AnyObject, Sendable {
    func answerWritten(id: String, answer: Answer, tag: DeliveryTag)
}

extension AnswerJournal {
    /// The delivery that waits for an answer's write, and who settles it.
    private struct Waiter {
        let tag: DeliveryTag
        let answer: Answer
        let settler: any AnswerSettler
    }

    /// The journal's thread and what it shares with the callers. A separate object so that the thread does not keep
    /// the journal alive: releasing the journal stops it.
    private final class Writer: Sendable {
        private struct State {
            var pending: [AnsweredMessage] = []
            var sentOutbox: [Int64] = []
            /// One per answer in `pending`, in the same order.
            var waiters: [Waiter] = []
            /// Callers of ``AnswerJournal/written(within:)``: called once the answers before them are written.
            var barriers: [@Sendable () -> Void] = []
            /// A batch is lingering or being written: a new answer joins the next batch and wakes nobody.
            var writing = false
            /// The journal's thread waits in `Linger.upTo`: an answer that fills the batch signals `batchFull`.
            var lingering = false
            /// `batchFull` was signalled during this linger (once per linger: the semaphore must not keep a count).
            var fullSignalled = false
            var stopping = false
            /// The last batch's arrays, emptied: the next batch fills them instead of growing new ones.
            var spareAnswers: [AnsweredMessage] = []
            var spareWaiters: [Waiter] = []
        }

        /// Batch arrays grown past this (a burst) are not kept for the next batch.
        private static let keptBatchCapacity = 1024

        private let store: any AnsweredMessageStore
        private let blockingStore: (any BlockingAnswerRecorder)?
        /// Rows kept in the store: the ledger's window.
        private let capacity: Int
        private let linger: Linger
        /// Pending answers that end a `Linger.upTo` early (`Int.max` for a custom linger).
        private let fullAt: Int
        private let metrics: WorkerMetrics
        private let logger: Logger
        private let state = Mutex(State())
        /// Signalled when a batch starts (`writing` turns true) and when the journal is released.
        private let wake = DispatchSemaphore(value: 0)
        /// Signalled once per linger when `fullAt` answers wait.
        private let batchFull = DispatchSemaphore(value: 0)

        init(store: any AnsweredMessageStore, capacity: Int, linger: Linger,
             metrics: WorkerMetrics, logger: Logger) {
            self.store = store
            self.blockingStore = store as? any BlockingAnswerRecorder
            self.capacity = capacity
            self.linger = linger
            if case .upTo(_, let fullAt) = linger { self.fullAt = max(1, fullAt) } else { self.fullAt = .max }
            self.metrics = metrics
            self.logger = logger
        }

        func enqueue(_ answer: AnsweredMessage, removingOutbox sent: [Int64], waiter: Waiter) {
            let fullAt = fullAt
            let (startBatch, full) = state.withLock { state in
                state.pending.append(answer)
                state.sentOutbox += sent
                state.waiters.append(waiter)
                var full = false
                if state.lingering, !state.fullSignalled, state.pending.count >= fullAt {
                    state.fullSignalled = true
                    full = true
                }
                guard !state.writing else { return (false, full) }
                state.writing = true
                return (true, full)
            }
            if startBatch { wake.signal() }
            if full { batchFull.signal() }
        }

        /// Called at once when nothing is pending or being written; otherwise after the next batch (the one being
        /// written holds only answers recorded before; a batch that finds nothing pending resumes it too).
        func enqueueBarrier(_ barrier: @escaping @Sendable () -> Void) {
            let idle = state.withLock { state in
                guard state.writing || !state.pending.isEmpty else { return true }
                state.barriers.append(barrier)
                return false
            }
            if idle { barrier() }
        }

        var pendingCount: Int { state.withLock { $0.pending.count } }

        /// Ends a linger in progress too: what waits in it is written now, not after the limit.
        func stop() {
            let endLinger = state.withLock { state in
                state.stopping = true
                guard state.lingering, !state.fullSignalled else { return false }
                state.fullSignalled = true
                return true
            }
            wake.signal()
            if endLinger { batchFull.signal() }
        }

        /// The thread's body: a batch per wake-up (and the batches that fill while it is written), until stopped
        /// with nothing pending.
        func run() {
            while true {
                wake.wait()
                let (starting, stopping) = state.withLock { ($0.writing, $0.stopping) }
                if starting {
                    // Linger, write what came, and again until a linger brings nothing: answers that arrive while a
                    // batch is written linger too before theirs, so a trickle pays one commit (and fsync) per linger,
                    // not one after every commit (half the commits at one request in flight; −8 % and −17 % worker
                    // CPU per echo there). An answer's ack waits at most two lingers and two commits.
                    repeat { lingerForBatch() } while writeBatch()
                } else if stopping {
                    return
                }
            }
        }

        /// Waits as `linger` says; `Linger.upTo` returns at once when the batch is already full.
        private func lingerForBatch() {
            switch linger {
            case .custom(let wait):
                wait()
            case .upTo(let limit, _):
                let fullAt = fullAt
                let armed = state.withLock { state in
                    guard state.pending.count < fullAt, !state.stopping else { return false }
                    state.lingering = true
                    return true
                }
                guard armed else { return }
                let result = batchFull.wait(timeout: .now() + .nanoseconds(Int(limit.inNanoseconds)))
                let signalled = state.withLock { state in
                    state.lingering = false
                    defer { state.fullSignalled = false }
                    return state.fullSignalled
                }
                // A batch filled as the limit ran out: its signal is given (or about to be) and must not end the next
                // linger early.
                if result == .timedOut, signalled { batchFull.wait() }
            }
        }

        /// Writes what is pending as one batch and returns true, or, with nothing pending, ends the writing spell and
        /// returns false (the next answer wakes the thread).
        private func writeBatch() -> Bool {
            var sent: [Int64] = []  // not kept between batches: outbox rows are rare
            var barriers: [@Sendable () -> Void] = []  // rare too: a drain's
            var (batch, waiters) = state.withLock { state in
                swap(&barriers, &state.barriers)
                guard !state.pending.isEmpty else {
                    state.writing = false
                    return ([AnsweredMessage](), [Waiter]())
                }
                var batch = state.spareAnswers, waiters = state.spareWaiters
                swap(&batch, &state.pending)
                swap(&waiters, &state.waiters)
                swap(&sent, &state.sentOutbox)
                state.spareAnswers = []
                state.spareWaiters = []
                return (batch, waiters)
            }
            guard !batch.isEmpty else {
                for barrier in barriers { barrier() }
                return false
            }
            do {
                try commit(batch, removingOutbox: sent)
                metrics.answerBatches.increment()
            } catch {
                metrics.answerJournalFailures.increment()
                logger.error(
                    "could not persist answered message ids; duplicates of them after a restart run again",
                    metadata: ["count": "\(batch.count)", "error": "\(error)"])
            }
            for (answer, waiter) in zip(batch, waiters) {
                waiter.settler.answerWritten(id: answer.id, answer: waiter.answer, tag: waiter.tag)
            }
            for barrier in barriers { barrier() }
            guard batch.capacity <= Self.keptBatchCapacity, waiters.capacity <= Self.keptBatchCapacity else {
                return true
            }
            // Emptied in place — these `var`s hold the only references, so no copy is made — and handed over.
            batch.removeAll(keepingCapacity: true)
            waiters.removeAll(keepingCapacity: true)
            state.withLock { state in
                swap(&state.spareAnswers, &batch)
                swap(&state.spareWaiters, &waiters)
            }
            return true
        }

        /// One transaction: on this thread when the store can, otherwise awaited from here.
        private func commit(_ batch: [AnsweredMessage], removingOutbox sent: [Int64]) throws {
            if let blockingStore {
                try blockingStore.recordAnsweredMessagesBlocking(batch, keepingLast: capacity, removingOutbox: sent)
                return
            }
            let outcome = AwaitedCommit()
            let store = store, capacity = capacity
            Task {
                do {
                    try await store.recordAnsweredMessages(batch, keepingLast: capacity, removingOutbox: sent)
                    outcome.finish(nil)
                } catch {
                    outcome.finish(error)
                }
            }
            try outcome.wait()
        }
    }

    /// Whichever comes first of a barrier and its bound resumes the waiter; the other finds it resumed.
    private final class FirstOutcome: Sendable {
        private let waiter = Mutex<CheckedContinuation<Bool, Never>?>(nil)

        func set(_ continuation: CheckedContinuation<Bool, Never>) {
            waiter.withLock { $0 = continuation }
        }

        func finish(_ value: Bool) {
            waiter.withLock { $0.take() }?.resume(returning: value)
        }
    }

    /// An async commit as the journal's thread waits for it.
    private final class AwaitedCommit: Sendable {
        private let failure = Mutex<(any Error)?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func finish(_ error: (any Error)?) {
            failure.withLock { $0 = error }
            done.signal()
        }

        func wait() throws {
            done.wait()
            if let error = failure.withLock({ $0 }) { throw error }
        }
    }
}
