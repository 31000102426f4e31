import Logging
import Synchronization

/// Runs jobs one at a time per key, in submission order, while different keys run concurrently.
///
/// The cloud bus routes every message by its resource UUID to one of these: messages about the same VM run strictly
/// one after another; messages about different VMs do not wait for each other.
///
/// Promises:
/// - **FIFO per key, serial per key.** A key's jobs start in the order their `submit` calls enqueued them, and a
///   key's job starts only after the previous one has completed (its `completion` has returned) or has been
///   abandoned at its deadline.
/// - **Bounded concurrency.** At most `maxConcurrentJobs` job bodies run at once across all keys (jobs abandoned at
///   their deadline stop counting; see ``ExecutorStatistics/abandonedJobsRunning``). Ready keys are served round
///   robin, so one busy key cannot starve the others.
/// - **Memory follows active keys.** A key's entry exists only while it has queued or running work; idle keys are
///   forgotten, and the tables shrink again after a burst of keys.
/// - **Isolation of failures.** A job that throws completes with ``JobOutcome/threw(_:)``; a job still running at its
///   deadline is cancelled, reported ``JobOutcome/deadlineExceeded`` and left behind, and its key moves on at once.
///   Either way only that key's job is affected.
/// - **Exactly one completion per job**, whatever happens (including shutdown and cancelled submitters).
///
/// Threads: jobs and completions run on executor-owned tasks on the global concurrent executor, or on the
/// `taskExecutor` given at init. Jobs do not inherit
/// the submitter's task-local values or priority. Completions are called synchronously on the runner and should be
/// quick (ack, reply, metrics), since the key's next job waits for them. Bookkeeping is one `Mutex`; there is no
/// actor hop per job, and runner tasks are reused: one that runs out of work parks until a key is ready again
/// (up to `maxConcurrentJobs` of them), so a steady load creates no task per job. Parked runners end at
/// ``shutdown(_:)``; until then they keep the executor alive.
public final class KeyedSerialExecutor<Key: Hashable & Sendable>: Sendable {
    /// The most job bodies that run at once across all keys.
    public let maxConcurrentJobs: Int
    /// The most jobs waiting to start across all keys before `submit` suspends; `nil` for no bound.
    public let maxQueuedJobs: Int?

    private let clock: ElapsedClock
    /// Where runner tasks prefer to run; nil: the global concurrent executor.
    private let taskExecutor: (any TaskExecutor)?
    private let logger: Logger
    /// Keyed by ``HashedKey``: a job's key is hashed once, at `submit`.
    private let state: Mutex<ExecutorState<HashedKey<Key>>>

    /// - Parameters:
    ///   - maxConcurrentJobs: Bounds the job bodies running at once across all keys. The worker ties it to the AMQP
    ///     prefetch, which already bounds the messages in flight. Must be at least 1.
    ///   - maxQueuedJobs: When set, `submit` suspends while this many jobs are waiting to start (backpressure for
    ///     producers that are not otherwise bounded). Default: `nil`, no bound. Must be at least 1 when set.
    ///   - clock: The clock deadlines are measured on. Default: `ContinuousClock()`. Tests inject a manual clock.
    ///   - taskExecutor: The executor runner tasks prefer (jobs and completions run there). The worker passes its
    ///     consuming connection's owner thread, so a delivery is handled and acked without crossing a thread.
    ///     Default: nil, the global concurrent executor.
    ///   - logger: Receives one warning per job abandoned at its deadline and a notice when such a job finally
    ///     returns; nothing per ordinary job.
    public init(
        maxConcurrentJobs: Int,
        maxQueuedJobs: Int? = nil,
        clock: some Clock<Duration> = ContinuousClock(),
        taskExecutor: (any TaskExecutor)? = nil,
        logger: Logger = Logger(label: "KeyedExecution")
    ) {
        precondition(maxConcurrentJobs >= 1, "maxConcurrentJobs must be at least 1")
        precondition(maxQueuedJobs.map { $0 >= 1 } ?? true, "maxQueuedJobs must be at least 1 when set")
        self.maxConcurrentJobs = maxConcurrentJobs
        self.maxQueuedJobs = maxQueuedJobs
        self.clock = ElapsedClock(clock)
        self.taskExecutor = taskExecutor
        self.logger = logger
        self.state = Mutex(ExecutorState(maxConcurrentJobs: maxConcurrentJobs, maxQueuedJobs: maxQueuedJobs))
    }

    /// Enqueues `job` behind the jobs already submitted for `key` and returns; it does not wait for the job.
    ///
    /// It suspends only when `maxQueuedJobs` is set and reached, until a slot frees up. If the submitting task is
    /// cancelled while suspended there, or the executor is shut down, the job is not enqueued and `completion`
    /// receives ``JobOutcome/rejected`` before `submit` returns.
    ///
    /// - Parameters:
    ///   - timeout: Measured from this call on the executor's clock. If it has passed when the job's turn comes, the
    ///     body does not run (``JobOutcome/expiredBeforeStart``). If it passes while the body runs, the body's task
    ///     is cancelled, the outcome is ``JobOutcome/deadlineExceeded``, and the key moves on without waiting for the
    ///     body to return. `nil`: no deadline.
    ///   - job: The work. It runs on an executor-owned task, never concurrently with another job of the same key.
    ///   - completion: Called exactly once with the job's outcome, before the key's next job starts — except for a
    ///     job whose deadline passes while it waits: the watchdog reports it (``JobOutcome/expiredBeforeStart``) at
    ///     that deadline, whatever its key is doing then.
    public func submit(
        key: Key,
        timeout: Duration?,
        _ job: @escaping @Sendable () async throws -> Void,
        completion: @escaping @Sendable (JobOutcome) -> Void
    ) async {
        await submit(key: HashedKey(key), timeout: timeout, job, completion: completion)
    }

    /// ``submit(key:timeout:_:completion:)-(Key,_,_,_)`` with the key already hashed (by a caller that also asked
    /// for its ``queueDepth(for:)-(HashedKey<Key>)``).
    public func submit(
        key: HashedKey<Key>,
        timeout: Duration?,
        _ job: @escaping @Sendable () async throws -> Void,
        completion: @escaping @Sendable (JobOutcome) -> Void
    ) async {
        let deadline = timeout.map { clock.now + $0 }
        while true {
            switch enqueue(key: key, deadline: deadline, timeout: timeout, job, completion: completion) {
            case .enqueued:
                return
            case .rejected:
                completion(.rejected)
                return
            case .full:
                await waitForQueueSpace()
                if Task.isCancelled {
                    completion(.rejected)
                    return
                }
            }
        }
    }

    /// ``submit(key:timeout:_:completion:)-(HashedKey<Key>,_,_,_)`` for a caller that cannot suspend (the connection's
    /// thread, taking a delivery as it is read). Only on an executor without `maxQueuedJobs`, where a submit never
    /// waits: the caller checks ``submitsWithoutWaiting``.
    public func submitWithoutWaiting(
        key: HashedKey<Key>,
        timeout: Duration?,
        _ job: @escaping @Sendable () async throws -> Void,
        completion: @escaping @Sendable (JobOutcome) -> Void
    ) {
        precondition(submitsWithoutWaiting, "submitWithoutWaiting on an executor with maxQueuedJobs")
        if case .rejected = enqueue(key: key, deadline: timeout.map { clock.now + $0 }, timeout: timeout, job,
                                    completion: completion) {
            completion(.rejected)
        }
    }

    /// True when no submit ever waits for queue space (no `maxQueuedJobs`).
    public var submitsWithoutWaiting: Bool { maxQueuedJobs == nil }

    /// One attempt to queue a job; the watchdog superseded by its deadline, if any, is cancelled outside the lock.
    private func enqueue(
        key: HashedKey<Key>,
        deadline: Duration?,
        timeout: Duration?,
        _ job: @escaping @Sendable () async throws -> Void,
        completion: @escaping @Sendable (JobOutcome) -> Void
    ) -> ExecutorState<HashedKey<Key>>.Admission {
        let (admission, supersededWatchdog) = state.withLock { state in
            let admission = state.admit(
                key: key, body: job, completion: completion, deadline: deadline, timeout: timeout)
            startRunners(&state)
            // A job that waits behind its key is expired by the watchdog at its deadline, not when its turn comes.
            guard case .enqueued = admission, let deadline, state.needsWatchdog(for: deadline) else {
                return (admission, Task<Void, Never>?.none)
            }
            return (admission, startWatchdog(&state, until: deadline))
        }
        supersededWatchdog?.cancel()
        return admission
    }

    /// Keys with queued or running work.
    public var activeKeyCount: Int {
        state.withLock { $0.lanes.count }
    }

    /// Jobs of `key` waiting to start (the running one, if any, is not counted).
    public func queueDepth(for key: Key) -> Int {
        queueDepth(for: HashedKey(key))
    }

    /// Jobs of the hashed `key` waiting to start.
    public func queueDepth(for key: HashedKey<Key>) -> Int {
        state.withLock { $0.lanes[key]?.queue.count ?? 0 }
    }

    /// A consistent snapshot of the executor's load.
    public var statistics: ExecutorStatistics {
        state.withLock { $0.statistics }
    }

    /// `false` once ``shutdown(_:)`` has been called.
    public var isAcceptingJobs: Bool {
        state.withLock { $0.phase == .accepting }
    }

    /// Returns when no job is queued or running, or when the calling task is cancelled (check `Task.isCancelled` or
    /// ``statistics`` to tell which). Jobs abandoned at their deadline are not waited for: they may never return.
    ///
    /// For a graceful stop: ``shutdown(_:)`` with `.drain`, then race this against a bound.
    public func waitUntilIdle() async {
        let id = state.withLock { $0.makeWaiterID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { $0.addIdleWaiter(id, continuation) }
            }
        } onCancel: {
            state.withLock { $0.cancelIdleWaiter(id) }
        }
    }

    /// Stops accepting jobs; see ``ShutdownMode`` for what happens to accepted work. Safe to call more than once
    /// (`.drain` then `.cancel` escalates). Completions of discarded jobs are called before this returns.
    public func shutdown(_ mode: ShutdownMode = .drain) {
        let (discarded, runnersToCancel) = state.withLock { $0.shutdown(mode) }
        // Outside the lock: completions and cancellation handlers are arbitrary code. Rejections are reported
        // before the running jobs are cancelled, so they always precede those jobs' outcomes.
        for job in discarded {
            job.completion(.rejected)
        }
        for task in runnersToCancel {
            task.cancel()
        }
        if mode == .cancel, !discarded.isEmpty || !runnersToCancel.isEmpty {
            logger.notice(
                "keyed executor cancelled",
                metadata: [
                    "executor.discardedJobs": "\(discarded.count)",
                    "executor.cancelledRunners": "\(runnersToCancel.count)",
                ])
        }
    }

    /// Slots allocated by the lane table, for tests of memory release.
    var laneTableCapacity: Int {
        state.withLock { $0.laneTableCapacity }
    }

    /// Runners waiting for work, and runner tasks created so far (for tests of runner reuse).
    var runnerCounts: (parked: Int, started: Int) {
        state.withLock { ($0.parkedRunners, $0.runnersStarted) }
    }

    // MARK: - Runners

    /// Starts up to `limit` runners while keys are ready and slots are free. Called with the lock held: a runner is
    /// registered (with its task, so it can be cancelled) before it can take the lock itself.
    private func startRunners(_ state: inout ExecutorState<HashedKey<Key>>, limit: Int = 1) {
        for _ in 0..<limit {
            if state.resumeParkedRunner() { continue }
            guard let id = state.reserveRunner() else { return }
            let task = Task.detached(executorPreference: taskExecutor) { [self] in
                await self.serve(runner: id)
            }
            state.register(runner: id, task: task)
        }
    }

    /// Serves ready keys one job at a time, inline on this task, until none is ready — or until the watchdog takes
    /// its job at a deadline (the task is then cancelled and a fresh runner takes its slot).
    private func serve(runner id: Int) async {
        var finishedKey: HashedKey<Key>?
        while true {
            let (next, supersededWatchdog) = state.withLock { state in
                guard let next = state.finishAndTakeNext(runner: id, finishedKey: finishedKey, clock: clock) else {
                    return (Assignment<HashedKey<Key>>?.none, Task<Void, Never>?.none)
                }
                guard next.needsWatchdog, let deadline = next.job.deadline else {
                    return (next, nil)
                }
                return (next, startWatchdog(&state, until: deadline))
            }
            supersededWatchdog?.cancel()
            guard let next else {
                // Nothing ready: wait parked for the next key instead of ending, unless the executor stops.
                let resumed = await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
                    let cancelled = Task.isCancelled
                    state.withLock { $0.park(runner: id, cancelled: cancelled, continuation) }
                }
                guard resumed else { return }
                finishedKey = nil
                continue
            }
            let outcome: JobOutcome
            if next.expired {
                outcome = .expiredBeforeStart
            } else {
                outcome = await Self.outcome(of: next.job.body)
                if next.job.deadline != nil,
                    !state.withLock({ $0.claimOutcome(runner: id, serial: next.job.serial) })
                {
                    logger.notice(
                        "abandoned job returned after its deadline",
                        metadata: ["executor.key": "\(next.key)", "executor.outcome": "\(outcome)"])
                    return
                }
            }
            next.job.completion(outcome)
            finishedKey = next.key
        }
    }

    // MARK: - Deadlines

    /// Starts a watchdog generation for `target` (earlier than the current one, if any). Called with the lock held;
    /// returns the superseded watchdog for the caller to cancel after unlocking.
    ///
    /// One watchdog per executor rather than one timer per job: a timed job then costs no task and no clock
    /// registration, and because deadlines mostly grow in submission order the watchdog is rarely re-armed.
    private func startWatchdog(_ state: inout ExecutorState<HashedKey<Key>>, until target: Duration)
        -> Task<Void, Never>?
    {
        let generation = state.beginWatchdog(until: target)
        // Holds the executor only weakly while asleep: an idle executor is not kept alive until a stale deadline.
        let task = Task.detached { [weak self, clock] in
            var wake = target
            while true {
                do {
                    try await clock.sleep(untilOffset: wake)
                } catch {
                    return  // superseded by an earlier deadline
                }
                guard let executor = self, let next = executor.deadlinesPassed(watchdog: generation) else {
                    return
                }
                wake = next
            }
        }
        return state.installWatchdog(task, generation: generation)
    }

    /// Reports every running job whose deadline has passed, cancels it and lets its key move on. Returns when the
    /// watchdog should wake next, or `nil` when it should exit.
    private func deadlinesPassed(watchdog generation: Int) -> Duration? {
        let now = clock.now
        let (expired, expiredQueued, nextWake) = state.withLock {
            $0.takeExpiredJobs(watchdog: generation, now: now)
        }
        for job in expiredQueued { job.completion(.expiredBeforeStart) }
        guard !expired.isEmpty else {
            return nextWake
        }
        for abandoned in expired {
            logger.warning(
                "job exceeded its deadline; cancelled and abandoned",
                metadata: [
                    "executor.key": "\(abandoned.key)",
                    "executor.timeout": "\(abandoned.job.timeout.map { "\($0)" } ?? "none")",
                ])
            abandoned.job.completion(.deadlineExceeded)
            // Cancel only after reporting, so the outcome always precedes anything the cancelled body does.
            abandoned.runnerTask.cancel()
        }
        state.withLock { state in
            for abandoned in expired {
                state.releaseLane(abandoned.key)
            }
            startRunners(&state, limit: expired.count)
        }
        return nextWake
    }

    private static func outcome(of body: @Sendable () async throws -> Void) async -> JobOutcome {
        do {
            try await body()
            return .finished
        } catch {
            return .threw(error)
        }
    }

    private func waitForQueueSpace() async {
        let id = state.withLock { $0.makeWaiterID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { $0.addSpaceWaiter(id, continuation) }
            }
        } onCancel: {
            state.withLock { $0.cancelSpaceWaiter(id) }
        }
    }
}
