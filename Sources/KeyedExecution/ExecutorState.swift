/// A job between `submit` and its completion.
struct QueuedJob: Sendable {
    let serial: UInt64
    let body: @Sendable () async throws -> Void
    let completion: @Sendable (JobOutcome) -> Void
    /// Offset on the executor's ``ElapsedClock`` after which the job must not start and must not keep its key.
    let deadline: Duration?
    /// The timeout the deadline came from, kept for logs.
    let timeout: Duration?
}

/// The jobs waiting behind one key, oldest first. The first is kept inline: most keys hold one job at a time (a
/// message about a VM, then nothing), and a ring would allocate storage for each of them.
struct JobQueue: Sendable {
    private var head: QueuedJob?
    private var rest = Ring<QueuedJob>()

    var isEmpty: Bool { head == nil }
    var count: Int { head == nil ? 0 : 1 + rest.count }

    mutating func append(_ job: QueuedJob) {
        if head == nil { head = job } else { rest.append(job) }
    }

    mutating func popFirst() -> QueuedJob? {
        defer { head = rest.popFirst() }
        return head
    }

    /// Empties the queue, returning the jobs oldest first.
    mutating func removeAll() -> [QueuedJob] {
        guard let first = head else { return [] }
        head = nil
        return [first] + rest.removeAll()
    }
}

/// The per-key queue. A lane exists only while its key has queued or running work.
struct Lane: Sendable {
    var queue = JobQueue()
    /// `true` while the key sits in the ready queue or one of its jobs runs. This is what makes a key serial: a
    /// scheduled key is never added to the ready queue again, so no two runners ever hold it at once.
    var isScheduled = false

    /// Appends a job; returns `true` when the key has just become ready (it was idle before).
    mutating func append(_ job: QueuedJob) -> Bool {
        queue.append(job)
        if isScheduled { return false }
        isScheduled = true
        return true
    }
}

/// What the executor holds for one runner id. The id is the slot's index in the executor's runner table, reused once
/// its runner has ended or was abandoned: three tables keyed by an ever-growing id hashed the id seven times per job.
struct RunnerSlot<Key: Hashable & Sendable>: Sendable {
    /// The runner's task while it is registered (serving, or about to).
    var task: Task<Void, Never>?
    /// Its task between retiring with nothing to do and parking (or ending).
    var retiring: Task<Void, Never>?
    /// The timed job it executes, until it claims the outcome or the watchdog takes it at the deadline.
    var timed: TimedJob<Key>?
}

/// A runner with nothing to do, suspended until a key becomes ready (resumed with `true`) or the executor stops
/// (`false`: the runner ends).
struct ParkedRunner: Sendable {
    let id: Int
    let task: Task<Void, Never>
    let continuation: UnsafeContinuation<Bool, Never>
}

/// The job with a deadline that a runner is executing, until the runner claims its outcome or the watchdog takes it
/// at the deadline.
struct TimedJob<Key: Hashable & Sendable>: Sendable {
    let key: Key
    let job: QueuedJob
}

/// What a runner does next.
struct Assignment<Key: Hashable & Sendable>: Sendable {
    let key: Key
    let job: QueuedJob
    /// The deadline passed before the job's turn: report `.expiredBeforeStart` without running the body.
    let expired: Bool
    /// The job's deadline is earlier than anything the watchdog is armed for: start a watchdog for it.
    let needsWatchdog: Bool
}

/// A running job taken by the watchdog at its deadline.
struct AbandonedJob<Key: Hashable & Sendable>: Sendable {
    let key: Key
    let job: QueuedJob
    let runnerTask: Task<Void, Never>
}

enum ExecutorPhase: Sendable, Equatable {
    case accepting
    case draining
    case cancelled
}

/// Everything a ``KeyedSerialExecutor`` shares between tasks, kept behind its one `Mutex`.
///
/// The methods here are pure bookkeeping: they never call a job's body or completion and never cancel a task
/// (cancellation runs handlers synchronously, which could re-enter the lock). They may resume continuations, which
/// only schedules the waiting task.
struct ExecutorState<Key: Hashable & Sendable> {
    let maxConcurrentJobs: Int
    let maxQueuedJobs: Int?

    private(set) var lanes: [Key: Lane] = [:]
    /// Keys with queued work and no running job, in the order they will be served (round robin across keys).
    private var ready = Ring<Key>()
    /// Runner slots by id (see ``RunnerSlot``); a free slot has none of its fields set and its id in `freeRunnerIDs`.
    private var runnerSlots: [RunnerSlot<Key>] = []
    private var freeRunnerIDs: [Int] = []
    /// Registered runners; an abandoned runner (its job passed its deadline) is removed at once and no longer counts.
    private(set) var liveRunners = 0
    /// Runners waiting for work, the most recently parked last. A message that makes a key ready resumes one
    /// instead of creating a task — a `Task` with its first slab and executor preference costs three allocations —
    /// so under a steady load the runners live on. They do not count against `maxConcurrentJobs`; there are never
    /// more of them than that.
    private var parked: [ParkedRunner] = []
    private var runnersCreated = 0
    private var nextSerial: UInt64 = 0
    private var nextWaiterID = 0

    private(set) var queuedJobs = 0
    /// Queued jobs that carry a deadline: the watchdog scans the lanes only while there are any.
    private(set) var queuedDeadlines = 0
    private(set) var runningJobs = 0
    private(set) var abandonedJobsRunning = 0
    private(set) var abandonedJobsTotal = 0
    private(set) var phase = ExecutorPhase.accepting

    private var idleWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var spaceWaiterOrder = Ring<Int>()
    private var spaceWaiters: [Int: CheckedContinuation<Void, Never>] = [:]

    /// The one deadline watchdog: it sleeps until `watchdogTarget`, then takes every running job whose deadline has
    /// passed and sleeps again until the earliest remaining deadline. A newer generation supersedes an older one.
    private var watchdogGeneration = 0
    private var watchdogTarget: Duration?
    private var watchdogTask: Task<Void, Never>?

    /// Below this many slots the lane table is never rebuilt to give memory back.
    private static var laneTableShrinkFloor: Int { 1024 }

    init(maxConcurrentJobs: Int, maxQueuedJobs: Int?) {
        self.maxConcurrentJobs = maxConcurrentJobs
        self.maxQueuedJobs = maxQueuedJobs
    }

    var statistics: ExecutorStatistics {
        ExecutorStatistics(
            activeKeys: lanes.count,
            queuedJobs: queuedJobs,
            runningJobs: runningJobs,
            abandonedJobsRunning: abandonedJobsRunning,
            abandonedJobsTotal: abandonedJobsTotal
        )
    }

    /// Slots allocated by the lane table (tests check that it shrinks back after a burst of keys).
    var laneTableCapacity: Int { lanes.capacity }

    // MARK: Submission

    enum Admission: Sendable {
        case enqueued
        case full
        case rejected
    }

    mutating func admit(
        key: Key,
        body: @escaping @Sendable () async throws -> Void,
        completion: @escaping @Sendable (JobOutcome) -> Void,
        deadline: Duration?,
        timeout: Duration?
    ) -> Admission {
        guard phase == .accepting else { return .rejected }
        if let maxQueuedJobs, queuedJobs >= maxQueuedJobs { return .full }
        nextSerial &+= 1
        let job = QueuedJob(
            serial: nextSerial, body: body, completion: completion, deadline: deadline, timeout: timeout)
        queuedJobs += 1
        if deadline != nil { queuedDeadlines += 1 }
        // Found once and changed in place through the values' index: `lanes[key]`'s modify coroutine mallocs its
        // frame for a value this large, and taking the lane out and putting it back hashed the key twice.
        let becameReady: Bool
        if let index = lanes.index(forKey: key) {
            becameReady = lanes.values[index].append(job)
        } else {
            var lane = Lane()
            becameReady = lane.append(job)
            lanes.updateValue(lane, forKey: key)
        }
        if becameReady {
            ready.append(key)
        }
        return .enqueued
    }

    /// Reserves a runner slot when a key is ready and a slot is free. Callers ask once per key that became ready
    /// and once per slot freed by the watchdog: that keeps the invariant "while `ready` is not empty, every slot
    /// has a runner (possibly one about to take a key)" without starting runners that would find nothing to do.
    mutating func reserveRunner() -> Int? {
        guard !ready.isEmpty, liveRunners < maxConcurrentJobs else { return nil }
        runnersCreated += 1
        if let id = freeRunnerIDs.popLast() { return id }
        runnerSlots.append(RunnerSlot())
        return runnerSlots.count - 1
    }

    /// Runner tasks created so far (for tests: parked runners are reused instead).
    var runnersStarted: Int { runnersCreated }

    mutating func register(runner id: Int, task: Task<Void, Never>) {
        runnerSlots[id].task = task
        liveRunners += 1
    }

    /// The runner `id` has ended (or was abandoned): its slot is free for a new runner.
    private mutating func releaseRunnerSlot(_ id: Int) {
        runnerSlots[id] = RunnerSlot()
        freeRunnerIDs.append(id)
    }

    /// Resumes a parked runner when a key is ready and a slot is free, registering it again; false when none is
    /// parked (the caller then starts a new runner).
    mutating func resumeParkedRunner() -> Bool {
        guard !ready.isEmpty, liveRunners < maxConcurrentJobs, let runner = parked.popLast() else { return false }
        register(runner: runner.id, task: runner.task)
        runner.continuation.resume(returning: true)
        return true
    }

    /// A runner that found nothing to do (``finishAndTakeNext(runner:finishedKey:clock:)`` returned nil) parks with
    /// `continuation` — or is resumed at once: with `true` when work became ready meanwhile and a slot is free (it
    /// is registered again), with `false` when the executor stops or enough runners are parked (it ends).
    mutating func park(runner id: Int, cancelled: Bool, _ continuation: UnsafeContinuation<Bool, Never>) {
        guard let task = runnerSlots[id].retiring.take() else {
            // Not retiring, so not registered when it ran out of work: it ends. (Only a registered runner retires;
            // an abandoned one ends at its late claim and never parks — its slot may already be another runner's.)
            continuation.resume(returning: false)
            return
        }
        guard phase == .accepting, !cancelled else {
            releaseRunnerSlot(id)
            continuation.resume(returning: false)
            return
        }
        if !ready.isEmpty, liveRunners < maxConcurrentJobs {
            register(runner: id, task: task)
            continuation.resume(returning: true)
            return
        }
        guard parked.count < maxConcurrentJobs else {
            releaseRunnerSlot(id)
            continuation.resume(returning: false)
            return
        }
        parked.append(ParkedRunner(id: id, task: task, continuation: continuation))
    }

    /// Parked runners now (for tests).
    var parkedRunners: Int { parked.count }

    // MARK: Running

    /// Ends the runner's previous job (if any) on `finishedKey` and hands it the next ready key's oldest job, or
    /// retires the runner when nothing is ready. A job with a deadline is checked against `clock` here, under the
    /// lock, so the watchdog and the runner never both report it.
    mutating func finishAndTakeNext(runner id: Int, finishedKey: Key?, clock: ElapsedClock) -> Assignment<Key>? {
        if let finishedKey {
            runningJobs -= 1
            releaseLane(finishedKey)
        }
        var taken: (key: Key, job: QueuedJob)?
        while taken == nil {
            guard let key = ready.popFirst() else {
                if let task = runnerSlots[id].task.take() {
                    liveRunners -= 1
                    runnerSlots[id].retiring = task
                }
                return nil
            }
            // A ready key has a lane; its queue is empty only when the watchdog expired every job it held.
            if let index = lanes.index(forKey: key), let job = lanes.values[index].queue.popFirst() {
                taken = (key, job)
            } else {
                removeLane(key)
            }
        }
        guard let (key, job) = taken else { preconditionFailure("unreachable") }
        queuedJobs -= 1
        if job.deadline != nil { queuedDeadlines -= 1 }
        runningJobs += 1
        if maxQueuedJobs != nil {
            wakeOneSpaceWaiter()
        }
        guard let deadline = job.deadline else {
            return Assignment(key: key, job: job, expired: false, needsWatchdog: false)
        }
        if clock.now >= deadline {
            return Assignment(key: key, job: job, expired: true, needsWatchdog: false)
        }
        runnerSlots[id].timed = TimedJob(key: key, job: job)
        let needsWatchdog = watchdogTarget.map { deadline < $0 } ?? true
        return Assignment(key: key, job: job, expired: false, needsWatchdog: needsWatchdog)
    }

    /// The runner's timed job returned. `true`: the outcome is the runner's to report. `false`: the watchdog already
    /// reported `.deadlineExceeded` and moved the key on; the runner must drop the outcome and retire.
    mutating func claimOutcome(runner id: Int, serial: UInt64) -> Bool {
        // An abandoned runner's slot may serve another runner by now: the job's serial tells whose the entry is.
        if runnerSlots[id].timed?.job.serial == serial {
            runnerSlots[id].timed = nil
            return true
        }
        abandonedJobsRunning -= 1
        return false
    }

    // MARK: Deadlines

    /// Arms a new watchdog generation for `target`; the caller starts its task and passes it to
    /// ``installWatchdog(_:generation:)``.
    /// Whether a watchdog must be (re)armed for a job that waits with `deadline`: none watches, or it wakes later.
    func needsWatchdog(for deadline: Duration) -> Bool {
        watchdogTarget.map { deadline < $0 } ?? true
    }

    mutating func beginWatchdog(until target: Duration) -> Int {
        watchdogGeneration += 1
        watchdogTarget = target
        return watchdogGeneration
    }

    /// Records the watchdog's task and returns the superseded one, for the caller to cancel outside the lock.
    mutating func installWatchdog(_ task: Task<Void, Never>, generation: Int) -> Task<Void, Never>? {
        guard generation == watchdogGeneration else { return task }
        defer { watchdogTask = task }
        return watchdogTask
    }

    /// Called by a watchdog that woke up. Takes every running job whose deadline is at or before `now`: its runner
    /// is retired (the slot is freed) and its task returned so the caller can report `.deadlineExceeded` and cancel
    /// it outside the lock. The keys stay scheduled until the caller releases them, after reporting. Also returns
    /// when the watchdog should wake next (`nil`: it should exit, having been superseded or having nothing to watch).
    ///
    /// Queued jobs whose deadline passed while they waited behind their key are taken out of their lane too and
    /// returned in `expiredQueued`, for the caller to report `.expiredBeforeStart` at their deadline rather than when
    /// the key reaches them (a hung key would otherwise keep them — and their senders — waiting for its own end).
    mutating func takeExpiredJobs(watchdog generation: Int, now: Duration) -> (
        expired: [AbandonedJob<Key>], expiredQueued: [QueuedJob], nextWake: Duration?
    ) {
        guard generation == watchdogGeneration else { return ([], [], nil) }
        var expired: [(runner: Int, job: AbandonedJob<Key>)] = []
        var nextWake: Duration?
        var expiredQueued: [QueuedJob] = []
        if queuedDeadlines > 0 {
            for key in Array(lanes.keys) {
                guard let lane = lanes[key], !lane.queue.isEmpty else { continue }
                var kept = JobQueue()
                var queue = lane.queue
                for job in queue.removeAll() {
                    if let deadline = job.deadline, deadline <= now {
                        expiredQueued.append(job)
                    } else {
                        if let deadline = job.deadline { nextWake = min(nextWake ?? deadline, deadline) }
                        kept.append(job)
                    }
                }
                lanes[key]?.queue = kept
            }
            queuedJobs -= expiredQueued.count
            queuedDeadlines -= expiredQueued.count
        }
        for id in runnerSlots.indices {
            guard let timed = runnerSlots[id].timed, let deadline = timed.job.deadline,
                let task = runnerSlots[id].task
            else { continue }
            if deadline <= now {
                expired.append((id, AbandonedJob(key: timed.key, job: timed.job, runnerTask: task)))
            } else {
                nextWake = min(nextWake ?? deadline, deadline)
            }
        }
        for (id, _) in expired {
            liveRunners -= 1
            releaseRunnerSlot(id)
        }
        runningJobs -= expired.count
        abandonedJobsRunning += expired.count
        abandonedJobsTotal += expired.count
        watchdogTarget = nextWake
        if nextWake == nil {
            watchdogTask = nil
        }
        return (expired.map(\.job), expiredQueued, nextWake)
    }

    /// The key's running job is over: serve its next job later (behind the other ready keys) or forget the key.
    mutating func releaseLane(_ key: Key) {
        guard let index = lanes.index(forKey: key) else {
            laneRemoved()
            return
        }
        if !lanes.values[index].queue.isEmpty {
            ready.append(key)
        } else {
            lanes.remove(at: index)
            laneRemoved()
        }
    }

    private mutating func removeLane(_ key: Key) {
        lanes.removeValue(forKey: key)
        laneRemoved()
    }

    /// After a lane went (or was found gone): give memory back after a burst, wake the idle waiters when none is left.
    private mutating func laneRemoved() {
        if lanes.count * 8 < lanes.capacity && lanes.capacity > Self.laneTableShrinkFloor {
            // A burst of keys leaves a large table behind; rebuild it so memory follows the active keys.
            var compact = [Key: Lane](minimumCapacity: lanes.count * 2)
            for (key, lane) in lanes {
                compact[key] = lane
            }
            lanes = compact
        }
        if lanes.isEmpty {
            let waiters = idleWaiters
            idleWaiters = [:]
            for waiter in waiters.values {
                waiter.resume()
            }
        }
    }

    // MARK: Shutdown

    /// Stops admission. For `.cancel`, also empties every queue (returning the jobs, oldest first per key, for the
    /// caller to complete with `.rejected`) and returns the runner tasks for the caller to cancel.
    mutating func shutdown(_ mode: ShutdownMode) -> (discarded: [QueuedJob], runnersToCancel: [Task<Void, Never>]) {
        defer { wakeAllSpaceWaiters() }
        // Whatever the mode, no new work comes: parked runners end.
        for runner in parked {
            releaseRunnerSlot(runner.id)
            runner.continuation.resume(returning: false)
        }
        parked.removeAll()
        switch (mode, phase) {
        case (.drain, .accepting):
            phase = .draining
            return ([], [])
        case (.drain, _), (.cancel, .cancelled):
            return ([], [])
        case (.cancel, .accepting), (.cancel, .draining):
            phase = .cancelled
        }
        var discarded: [QueuedJob] = []
        discarded.reserveCapacity(queuedJobs)
        for index in lanes.values.indices {
            discarded.append(contentsOf: lanes.values[index].queue.removeAll())
        }
        queuedJobs = 0
        queuedDeadlines = 0
        // Ready keys have no running job; with their queues gone they are idle. Keys with a running job keep their
        // lane until that job is over.
        for key in ready.removeAll() {
            removeLane(key)
        }
        return (discarded, runnerSlots.compactMap(\.task))
    }

    // MARK: Waiters

    mutating func makeWaiterID() -> Int {
        nextWaiterID += 1
        return nextWaiterID
    }

    /// Parks an idle waiter, or resumes it at once when there is no work (or its task is already cancelled).
    mutating func addIdleWaiter(_ id: Int, _ continuation: CheckedContinuation<Void, Never>) {
        if lanes.isEmpty || Task.isCancelled {
            continuation.resume()
        } else {
            idleWaiters[id] = continuation
        }
    }

    mutating func cancelIdleWaiter(_ id: Int) {
        idleWaiters.removeValue(forKey: id)?.resume()
    }

    /// Parks a submitter until a queue slot frees up, or resumes it at once if one already has (or admission
    /// stopped, or its task is cancelled); the submitter then retries.
    mutating func addSpaceWaiter(_ id: Int, _ continuation: CheckedContinuation<Void, Never>) {
        let full = maxQueuedJobs.map { queuedJobs >= $0 } ?? false
        if !full || phase != .accepting || Task.isCancelled {
            continuation.resume()
        } else {
            spaceWaiters[id] = continuation
            spaceWaiterOrder.append(id)
        }
    }

    mutating func cancelSpaceWaiter(_ id: Int) {
        // Its id stays in `spaceWaiterOrder` and is skipped when reached.
        spaceWaiters.removeValue(forKey: id)?.resume()
    }

    private mutating func wakeOneSpaceWaiter() {
        while let id = spaceWaiterOrder.popFirst() {
            if let waiter = spaceWaiters.removeValue(forKey: id) {
                waiter.resume()
                return
            }
        }
    }

    private mutating func wakeAllSpaceWaiters() {
        _ = spaceWaiterOrder.removeAll()
        let waiters = spaceWaiters
        spaceWaiters = [:]
        for waiter in waiters.values {
            waiter.resume()
        }
    }
}
