import Foundation
import Logging
import Primitives
import Synchronization

/// A self-healing AMQP 0-9-1 connection on rabbitmq-c.
///
/// rabbitmq-c is blocking and not thread-safe, so one dedicated thread owns the library state;
/// every method here posts a command to that thread and, where there is an answer, suspends on
/// a continuation. Nothing blocks Swift's cooperative pool.
///
/// Promises:
/// - `publish` returns only when the broker confirmed the message (or returned it, when
///   `mandatory`), and throws when it nacked it or the connection dropped first: no silent loss.
/// - A lost connection is re-established with exponential backoff and jitter; recorded topology
///   and consumers are re-applied; consumer streams continue across reconnects.
/// - With several ``AMQPConfiguration/endpoints`` (a cluster) each reconnect goes to the next one, round-robin,
///   so the connection leaves a dead node after one backoff; `start()` fails only when every endpoint failed once.
/// - Acks for deliveries of an earlier connection epoch are dropped, never sent: the broker has
///   already requeued those messages and would close the channel on an unknown tag.
/// - Heartbeats are sent and checked by the owner thread whatever the handlers are doing.
/// - After `close()` every call fails at once with ``AMQPError/closed`` (acks are dropped), `start()` included;
///   `close()` itself may be called any number of times.
public final class AMQPConnection: Sendable {
    private enum Lifecycle {
        case idle, started, closed
    }

    public let configuration: AMQPConfiguration
    private let prefetch: UInt16
    private let logger: Logger
    private let mailbox: Mailbox
    private let owner: OwnerBox
    private let status: ConnectionStatus
    private let consumerCounter = Atomic<Int>(0)
    private let lifecycle = Mutex(Lifecycle.idle)

    /// - Parameter prefetch: unacknowledged deliveries the broker may push to this connection's
    ///   consumers at once; it bounds the work in flight. Default: 256.
    public init(configuration: AMQPConfiguration, prefetch: UInt16 = 256, logger: Logger = Logger(label: "amqp")) {
        self.configuration = configuration
        self.prefetch = prefetch
        self.logger = logger
        let mailbox = Mailbox()
        let executor = OwnerThreadExecutor(mailbox: mailbox)
        let status = ConnectionStatus()
        self.mailbox = mailbox
        self.taskExecutor = executor
        self.status = status
        self.owner = OwnerBox(configuration: configuration, prefetch: prefetch, mailbox: mailbox, executor: executor,
                              status: status, logger: logger)
    }

    /// Runs tasks that prefer it on this connection's owner thread, between its polls, while a connection is served
    /// (and on the global concurrent executor otherwise): a task that consumes deliveries and acks them there
    /// crosses no thread for either. See ``OwnerThreadExecutor`` for what belongs there.
    public let taskExecutor: OwnerThreadExecutor

    deinit {
        if lifecycle.withLock({ $0 }) == .started { mailbox.post(.close(completion: {})) }
    }

    /// Starts the owner thread and waits for the first connection. Throws if that first attempt
    /// fails (so a misconfigured daemon or CLI stops with a clear error); after that the
    /// connection heals itself. With several endpoints the first attempt is one try at each, in order, the
    /// initial reconnect delay apart; the error then is ``AMQPError/allEndpointsFailed(attempts:)``.
    public func start() async throws(AMQPError) {
        let previous = lifecycle.withLock { state in
            defer { if state == .idle { state = .started } }
            return state
        }
        switch previous {
        case .closed: throw .closed
        case .started: return
        case .idle: break
        }
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            let owner = self.owner
            let thread = Thread { owner.run { continuation.resume(returning: $0) } }
            thread.name = "amqp-\(configuration.host):\(configuration.port)"
            thread.start()
        }
        try result.get()
    }

    /// Declares exchanges, queues and bindings now and again after every reconnect.
    public func declare(_ topology: Topology) async throws(AMQPError) {
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            mailbox.post(.declare(topology, completion: { continuation.resume(returning: $0) }))
        }
        try result.get()
    }

    /// Subscribes to a queue. The stream yields deliveries across reconnects and finishes when
    /// consumption is stopped or the connection is closed.
    public func consume(_ specification: ConsumerSpecification) async throws(AMQPError) -> DeliveryStream {
        let number = consumerCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let stream = DeliveryStream()
        let consumer = Consumer(specification: specification, tag: "cbw.\(number).\(specification.queue)",
                                deliveries: stream)
        let result: Result<Void, AMQPError> = await withCheckedContinuation { resume in
            mailbox.post(.consume(specification, consumer, completion: { resume.resume(returning: $0) }))
        }
        try result.get()
        return stream
    }

    /// Publishes and waits for the broker's confirm. While the owner thread sleeps, the calling thread writes the
    /// publish itself (see `ConnectionOwner.borrowedPublishPass`); the confirm always comes through the owner thread.
    @discardableResult
    public func publish(_ message: consuming OutgoingMessage) async throws(AMQPError) -> PublishOutcome {
        // Resumed exactly once: the confirm tracker completes every publish it is given (confirm, nack, return,
        // or the connection's end), and a publish the mailbox refuses is completed at once. The message is moved
        // into its command (a copy would retain and release each of its references).
        var pending: OutgoingMessage? = consume message
        let result: Result<PublishOutcome, AMQPError> = await withOneShotContinuation { continuation in
            postPublish(.publish(pending.take()!, completion: .resume(continuation)))
        }
        return try result.get()
    }

    /// Publishes without waiting; for traffic whose loss the caller tolerates (benchmarks' load,
    /// best-effort notifications).
    public func publishWithoutConfirm(_ message: consuming OutgoingMessage) {
        postPublish(.publish(message, completion: nil))
    }

    private func postPublish(_ command: consuming Command) {
        guard mailbox.postWithoutWaking(command) else { return }
        // Posted from another connection's owner thread (a handler answering there): its pass runs this
        // connection's publishes before it sleeps, with every other one the pass posts — one write for all of the
        // pass's replies instead of one each.
        if let current = ConnectionOwner.servingOnThisThread {
            current.borrowBeforeSleeping(owner, wakingIfBusy: mailbox)
            return
        }
        if !owner.borrowPublishPass() { mailbox.wake() }
    }

    /// Has `reader`'s owner thread read this connection's frames — its confirms above all — while this connection's
    /// thread sleeps (plain TCP; TLS connections read their own). Meant for a connection that publishes what tasks on
    /// `reader`'s ``taskExecutor`` answer (the worker's replies): a confirm then resumes its publisher on the thread
    /// that runs it, and neither thread is woken for it. This connection's thread still sends its heartbeats, expires
    /// confirms, reconnects, and reads whenever the reader cannot (see `ConnectionOwner`). Call before either starts.
    public func delegateReads(to reader: AMQPConnection) {
        precondition(reader !== self, "a connection cannot read for itself")
        owner.delegateReads(to: reader.owner, readerMailbox: reader.mailbox)
    }

    /// Lets this connection's thread, as the reader of connections that ``delegateReads(to:)`` it, put off reading
    /// their sockets for up to `bound` after a pass that brought deliveries, while `allowed` says so, a few confirms
    /// are to come and none of them is one something besides bookkeeping waits for (``OutgoingMessage/confirmMayWait``
    /// false): they are then read when the thread wakes for the next delivery, not by a wake-up of their own.
    /// `allowed` runs on this connection's thread before it sleeps; it must be cheap and must not block.
    public func deferDelegatedReads(upTo bound: Duration, while allowed: @escaping @Sendable () -> Bool) {
        owner.deferDelegatedReads(upTo: bound, while: allowed)
    }

    /// Acknowledges a delivery. Contiguous acks are batched into one `multiple` ack.
    public func ack(_ tag: DeliveryTag) { mailbox.post(.ack(tag)) }

    /// Negatively acknowledges a delivery; `requeue: false` dead-letters or drops it per the queue.
    public func nack(_ tag: DeliveryTag, requeue: Bool) { mailbox.post(.nack(tag, requeue: requeue)) }

    /// Cancels every consumer (deliveries already received stay valid to ack) — the first step of
    /// a graceful drain. Consumers are not re-established afterwards.
    public func stopConsuming() async {
        await withCheckedContinuation { continuation in
            mailbox.post(.cancelConsumers(completion: { continuation.resume() }))
        }
    }

    /// Sends pending acks, closes channels and connection, and stops the owner thread.
    /// Unacked deliveries go back to their queues.
    public func close() async {
        let previous = lifecycle.withLock { state in
            defer { state = .closed }
            return state
        }
        guard previous != .idle else {
            // Never started: no owner thread will ever take what was posted.
            for command in mailbox.close() { command.reject(.closed) }
            return
        }
        // Started (the owner closes the mailbox when it exits) or closed already (then the mailbox refuses the
        // command and completes it at once).
        await withCheckedContinuation { continuation in
            mailbox.post(.close(completion: { continuation.resume() }))
        }
    }

    public var statistics: ConnectionStatistics { status.snapshot }
}

/// The connection's owner, shared by its thread and by publishers. The owner's state is touched only by whoever holds
/// its lock: the owner thread (from the first line of `run` on, except while it sleeps in poll) or a publisher that
/// took the lock with `tryLock` for one borrowed pass.
final class OwnerBox: @unchecked Sendable {
    // @unchecked: every access to `owner` is under `owner.lock` — `run` takes it first thing, `borrowPublishPass` and
    // `borrowReadPass` only after `tryLock` succeeded, `delegateReads` and `deferDelegatedReads` with `lock()` — except
    // `delegatedSocket`, `deferrableConfirms` and `returnReads()`, which touch only atomics and the (Sendable) mailbox.
    fileprivate let owner: ConnectionOwner

    init(configuration: AMQPConfiguration, prefetch: UInt16, mailbox: Mailbox, executor: OwnerThreadExecutor,
         status: ConnectionStatus, logger: Logger) {
        owner = ConnectionOwner(configuration: configuration, prefetch: prefetch, mailbox: mailbox, executor: executor,
                                status: status, logger: logger)
    }

    func run(firstConnect: @escaping @Sendable (Result<Void, AMQPError>) -> Void) { owner.run(firstConnect: firstConnect) }

    /// Runs waiting publishes on the calling thread if the owner thread sleeps; false when the owner thread must be
    /// woken (it is busy, connecting or gone, or publishes were left for it).
    func borrowPublishPass() -> Bool {
        guard owner.lock.tryLock() else { return false }
        defer { owner.lock.unlock() }
        return owner.borrowedPublishPass()
    }

    /// Reads this connection's ready frames on the calling thread (the reader's) if its owner thread sleeps; false
    /// when it must read them itself (``returnReads()``).
    func borrowReadPass() -> Bool {
        guard owner.lock.tryLock() else { return false }
        defer { owner.lock.unlock() }
        return owner.borrowedReadPass()
    }

    /// The socket the reader should poll for this connection, or -1.
    var delegatedSocket: Int32 { owner.delegatedSocket.load(ordering: .relaxed) }
    /// Its outstanding publishes when only bookkeeping waits for their confirms, else -1 (read without the lock).
    var deferrableConfirms: Int { owner.deferrableConfirms.load(ordering: .relaxed) }

    /// Gives the reading back to the owner thread and wakes it.
    func returnReads() { owner.returnReads() }

    /// See `AMQPConnection.deferDelegatedReads(upTo:while:)`.
    func deferDelegatedReads(upTo bound: Duration, while allowed: @escaping @Sendable () -> Bool) {
        let milliseconds = Int32(clamping: max(1, bound.inMilliseconds))
        owner.lock.lock()
        owner.deferDelegatedReads(upToMilliseconds: milliseconds, while: allowed)
        owner.lock.unlock()
    }

    /// See `AMQPConnection.delegateReads(to:)`. Takes one lock at a time, each owner thread's between its polls.
    func delegateReads(to reader: OwnerBox, readerMailbox: Mailbox) {
        owner.lock.lock()
        owner.delegateReads(to: readerMailbox)
        owner.lock.unlock()
        reader.owner.lock.lock()
        reader.owner.readFrames(for: self)
        reader.owner.lock.unlock()
    }
}
