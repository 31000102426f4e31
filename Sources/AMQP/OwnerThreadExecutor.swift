import Synchronization

/// Runs Swift tasks on a connection's owner thread, between its socket polls.
///
/// A delivery used to cross threads on its way in (owner thread → consumer task → key runner on the cooperative
/// pool) and again for its ack (pool → owner thread): every crossing is a futex wake-up that costs tens of µs of CPU
/// on this kind of machine. Tasks that prefer this executor (`Task(executorPreference:)`, `withTaskExecutorPreference`)
/// run their synchronous stretches on the thread that read the delivery and will send the ack, so the inbound path
/// has no crossing at all.
///
/// Promises:
/// - **Jobs run only while the connection is served.** While the owner thread connects, backs off or has exited,
///   enqueued jobs (and those still queued when serving stops) go to the global concurrent executor instead: a
///   blocking connect or a closed connection never holds a task back. Tasks therefore never depend on this thread
///   to make progress; they only run cheaper on it.
/// - **No wake-up from the owner thread itself:** a job enqueued by a job running here is taken in the same loop pass
///   (the loop looks at the queue before it polls); only an enqueue from another thread writes the eventfd, and only
///   when the queue was empty.
/// - **Fair to the socket:** one call of ``runQueued(into:)`` runs the jobs queued when it started, not those they
///   enqueue, so a chain of jobs cannot keep the loop from reading frames and sending heartbeats.
///
/// A job that blocks or computes for long holds the connection's frames, acks and heartbeats meanwhile: only code
/// that awaits (as the worker's handlers do: HTTP, stores and publishes are asynchronous) belongs here.
public final class OwnerThreadExecutor: TaskExecutor, Sendable {
    private struct Queue {
        var jobs: [UnownedJob] = []
        var serving = false
    }

    private let queue = Mutex(Queue())
    private let mailbox: Mailbox

    init(mailbox: Mailbox) {
        self.mailbox = mailbox
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let onOwner = mailbox.isOwnerThread
        let queued: Bool?  // nil: not serving; otherwise whether the owner thread needs a wake-up
        queued = queue.withLock { queue in
            guard queue.serving else { return nil }
            let wasEmpty = queue.jobs.isEmpty
            queue.jobs.append(unowned)
            return wasEmpty && !onOwner
        }
        switch queued {
        case nil: globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
        case true?: mailbox.wake()
        case false?: break
        }
    }

    /// Whether the caller runs on the owner thread while it serves a connection — where tasks preferring this executor
    /// run then.
    public var isCurrentThread: Bool { mailbox.isOwnerThread }

    /// Called by the owner thread when it starts serving a live connection; from then on its own posts to the
    /// mailbox need no wake-up either (``Mailbox/isOwnerThread``).
    func beginServing() {
        mailbox.ownerServing(true)
        queue.withLock { $0.serving = true }
    }

    /// Called by the owner thread when it stops serving (the connection failed or is closing): what is queued, and
    /// whatever is enqueued until the next ``beginServing()``, runs on the global concurrent executor.
    func endServing() {
        mailbox.ownerServing(false)
        let left = queue.withLock { queue in
            queue.serving = false
            defer { queue.jobs = [] }
            return queue.jobs
        }
        for job in left { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    /// Runs the jobs queued now, swapping lists with the queue like ``Mailbox/drain(into:)`` (`batch` is empty on
    /// entry and on return). Returns whether jobs were queued meanwhile, for the loop to come back without polling
    /// for long.
    func runQueued(into batch: inout [UnownedJob]) -> Bool {
        queue.withLock { queue in
            guard !queue.jobs.isEmpty else { return }
            swap(&queue.jobs, &batch)
        }
        guard !batch.isEmpty else { return false }
        let executor = asUnownedTaskExecutor()
        for job in batch { job.runSynchronously(on: executor) }
        batch.removeAll(keepingCapacity: true)
        return hasQueuedJobs
    }

    var hasQueuedJobs: Bool { queue.withLock { !$0.jobs.isEmpty } }
}
