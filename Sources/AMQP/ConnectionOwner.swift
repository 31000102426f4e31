import Synchronization
import CRabbitMQ
import CRabbitMQShim
import Foundation
import Glibc
import Logging
import Primitives

/// The thread that alone calls into rabbitmq-c for one logical connection, across reconnects.
///
/// Loop: take commands → send acks → read every frame that is ready → poll the socket and the
/// mailbox (bounded by a quarter of the heartbeat so heartbeats go out while handlers run
/// elsewhere). Any connection or channel failure fails the outstanding confirms, bumps the epoch
/// (so old delivery tags are never acked) and reconnects with backoff and jitter, re-declaring
/// the recorded topology and re-subscribing the consumers.
///
/// With several endpoints (a cluster) every lost connection and every failed connect moves the next attempt to the
/// next endpoint, round-robin, so a dead node costs one backoff, not an endless retry of its address. The first
/// connect tries each endpoint once before `start()` fails.
///
/// **Borrowed publish passes.** While this thread sleeps in `poll` on a live connection it releases ``lock``; a
/// thread that posts a publish then takes the lock (never waiting for it) and runs the publishes at the head of the
/// mailbox itself (``borrowedPublishPass()``), so the common publish costs no wake-up of this thread: the worker's
/// replies leave from the thread that handled the request (the consuming connection's), and only the confirm comes
/// back through this one. Everything else — acks, declarations, reading frames, confirms, reconnects — stays here.
///
/// **Delegated reads** (plain TCP). A connection given a reader (`AMQPConnection.delegateReads(to:)`: the worker's
/// publish connection, read by its consuming connection) stops polling its socket while it sleeps and publishes it
/// in ``delegatedSocket`` instead; the reader's thread polls it beside its own and, when it is readable, takes
/// ``lock`` with `tryLock` and reads the frames itself (``borrowedReadPass()``), so a confirm resumes the task that
/// waits for it on the thread that runs that task, without waking this one. When it cannot (this thread holds the
/// lock, or the send buffer is filling, so a heartbeat written from inside the read could block) it hands the reading
/// back: ``delegatedSocket`` goes to -1 and this thread is woken to read, and delegates again when it sleeps next.
/// Only while the reader serves a live connection; heartbeats, confirm timeouts and reconnects stay here.
///
/// **Deferred delegated reads** (a reader given ``deferDelegatedReads(upToMilliseconds:while:)``: the worker's
/// consuming connection). A reply's confirm is off its request's path — only bookkeeping waits for it — so after a
/// pass that brought deliveries the reader may sleep without the delegators' sockets for up to the bound, and read
/// them when it wakes for the next delivery (one `poll` without waiting) or when the bound passes: one wake-up fewer
/// per request at one request in flight. Only with a few confirms to come (with many in flight the thread wakes for
/// deliveries anyway), never while a delegator has a confirm something else waits on (``deferrableConfirms``) or the
/// reader's own predicate says no (the worker's: a job is queued behind a key).
final class ConnectionOwner {
    private let configuration: AMQPConfiguration
    /// `configuration.confirmTimeout` in nanoseconds, converted once rather than per publish.
    private let confirmTimeoutNanoseconds: Int64
    private let endpoints: [AMQPConfiguration.Endpoint]
    private let prefetch: UInt16
    private let mailbox: Mailbox
    /// Tasks that prefer this connection's thread run here between polls while a connection is served.
    private let executor: OwnerThreadExecutor
    private let status: ConnectionStatus
    private let logger: Logger
    /// Answers `start()`; nil once answered, so it is answered exactly once whatever ends the first connect.
    private var firstConnect: (@Sendable (Result<Void, AMQPError>) -> Void)?
    /// Held by this thread except while it sleeps in poll on a live connection; everything below is touched only by
    /// whoever holds it.
    let lock = OwnerLock()
    /// The live connection while it is served (what a borrowed pass may publish on).
    private var served: RabbitSession?
    /// A borrowed pass's publish failed the connection: this thread tears it down when it wakes.
    private var borrowedFailure: AMQPError?
    private var borrowedBatch: [Command] = []
    /// The reader's mailbox, if this connection's frames are read by another connection's thread while this one
    /// sleeps (see the type's doc); set once under ``lock``.
    private var readDelegate: Mailbox?
    /// This connection's socket while the reader may read it, else -1. Written by this thread (under ``lock``) and by
    /// the reader when it hands the reading back; read by the reader without the lock, to poll.
    let delegatedSocket = Atomic<Int32>(-1)
    /// How many outstanding publishes a reader may leave unread for a while: all of them when only bookkeeping waits
    /// for their confirms, -1 when something else waits for one (``ConfirmTracker/urgent``). Stored whenever the
    /// tracker changes; a reader reads it without the lock before deferring this connection's reads.
    let deferrableConfirms = Atomic<Int>(0)
    /// How long, and when, this thread may put off reading its delegators' sockets (see the type's doc); set under
    /// ``lock``.
    private var readDeferral: (milliseconds: Int32, allowed: @Sendable () -> Bool)?
    /// Connections whose frames this thread reads while their threads sleep; set under ``lock``.
    private var delegators: [OwnerBox] = []
    /// The delegators whose sockets the last poll watched, in the order of the poll's descriptors past the first two.
    private var polledDelegators: [OwnerBox] = []

    private var topology = Topology()
    private var consumers: [String: Consumer] = [:]
    /// The consumer ``consumer(tagged:)`` found last; cleared whenever ``consumers`` changes.
    private var lastConsumer: Consumer?
    private var consumerOrder: [String] = []
    private var confirms = ConfirmTracker()
    private var acks = AckBatcher()
    private var assembler = ContentAssembler()
    private var recentStrings = RecentStrings()
    private var epoch: UInt64 = 0
    private var closing = false
    private var closeCompletions: [@Sendable () -> Void] = []
    /// Commands that need a live connection, held while reconnecting.
    private var deferred: [Command] = []
    private var lastInbound = MonotonicInstant.now
    /// When the owner loop next looks for publishes past their confirm timeout.
    private var nextConfirmCheck = MonotonicInstant.now
    /// The endpoint the next connect goes to.
    private var endpointIndex = 0

    init(configuration: AMQPConfiguration, prefetch: UInt16, mailbox: Mailbox, executor: OwnerThreadExecutor,
         status: ConnectionStatus, logger: Logger) {
        self.configuration = configuration
        self.confirmTimeoutNanoseconds = configuration.confirmTimeout.inNanoseconds
        self.endpoints = configuration.endpoints
        self.prefetch = prefetch
        self.mailbox = mailbox
        self.executor = executor
        self.status = status
        self.logger = logger
    }

    /// The owner thread's body; `firstConnect` is answered once the first connect succeeded or every endpoint failed.
    func run(firstConnect: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        lock.lock()
        self.firstConnect = firstConnect
        var delay = configuration.reconnectInitialDelay
        var connectedOnce = false
        // The endpoint of the last successful connect: a connect elsewhere is a failover.
        var lastConnected: AMQPConfiguration.Endpoint?
        // One error per endpoint tried during the first connect, in order.
        var firstConnectFailures: [AMQPError] = []
        if endpoints.isEmpty {
            answerFirstConnect(.failure(.invalidURL(url: "[]", reason: "no broker endpoint configured")))
            closing = true
        }
        while !closing {
            let endpoint = endpoints[endpointIndex]
            var session: RabbitSession?
            var connected = false
            do {
                let live = try RabbitSession(configuration: configuration, endpoint: endpoint)
                session = live
                epoch += 1
                try establish(on: live)
                connected = true
                let currentEpoch = epoch
                let failover = lastConnected.map { $0 != endpoint } ?? false
                status.update {
                    $0.epoch = currentEpoch
                    $0.connected = true
                    $0.endpoint = endpoint.description
                    $0.blocked = false
                    if connectedOnce { $0.reconnects += 1 }
                    if failover { $0.failovers += 1 }
                }
                logger.info("AMQP connected", metadata: [
                    "amqp.url": "\(configuration.redactedURL(for: endpoint))", "amqp.endpoint": "\(endpoint)",
                    "amqp.epoch": "\(epoch)", "amqp.heartbeat": "\(live.negotiatedHeartbeatSeconds)s",
                ])
                connectedOnce = true
                lastConnected = endpoint
                delay = configuration.reconnectInitialDelay
                let retained = deferred
                deferred.removeAll()
                try handleBatch(retained, on: live)
                try serve(live)
                try? flushAcks(on: live)
                live.close()
            } catch {
                session?.abandon()
                status.update { $0.connected = false; $0.endpoint = nil; $0.lastError = error.description }
                teardown(error)
                let next = (endpointIndex + 1) % endpoints.count
                if !connectedOnce {
                    firstConnectFailures.append(Self.naming(endpoint, in: error))
                    if firstConnectFailures.count == endpoints.count {
                        // A single endpoint keeps its own error, as before clusters.
                        answerFirstConnect(.failure(endpoints.count == 1 ? error
                                                    : .allEndpointsFailed(attempts: firstConnectFailures)))
                        closing = true
                        break
                    }
                }
                guard !closing else { break }
                let wait = jittered(delay)
                logger.warning(connected ? "AMQP connection lost; reconnecting" : "AMQP connect failed; retrying",
                               metadata: [
                                   "amqp.error": "\(error)", "amqp.endpoint": "\(endpoint)",
                                   "amqp.next": "\(endpoints[next])", "amqp.retryIn": "\(wait)",
                               ])
                endpointIndex = next
                waitWhileDisconnected(wait)
                // The first connect tries each endpoint once, the initial delay apart; after that the backoff grows.
                if connectedOnce { delay = min(delay * 2, configuration.reconnectMaxDelay) }
            }
        }
        // Closed while the first connect was still trying its endpoints.
        answerFirstConnect(.failure(.closed))
        teardown(.closed)
        for consumer in consumers.values { consumer.deliveries.finish() }
        consumers.removeAll()
        lastConsumer = nil
        for command in deferred + mailbox.close() { command.reject(.closed) }
        status.update { $0.connected = false; $0.endpoint = nil }
        lock.unlock()
        for completion in closeCompletions { completion() }
    }

    /// Runs the publishes at the head of the mailbox on the calling thread, which took ``lock`` with `tryLock` (so
    /// this thread sleeps in poll). Stops at the first command that is not a publish, or a publish the socket may
    /// not take without blocking, and puts the rest back at the head of the mailbox, in order. Returns whether it
    /// ran everything; if not, the owner thread must be woken for the rest.
    func borrowedPublishPass() -> Bool {
        guard let session = served, borrowedFailure == nil else { return false }
        mailbox.drain(into: &borrowedBatch, clearingWake: false)
        defer { borrowedBatch.removeAll(keepingCapacity: true) }
        // Asked once: nothing this pass queues reaches the kernel before its one write at the end.
        var room = session.sendBufferRoom()
        var sizeRefreshed = false
        var index = borrowedBatch.startIndex
        while index < borrowedBatch.endIndex {
            guard case .publish(let message, _) = borrowedBatch[index] else { break }
            guard session.fits(publishOf: message.body.count, in: room) else {
                // The kept buffer size may be stale (the kernel grows it): ask once more before deferring.
                if !sizeRefreshed {
                    sizeRefreshed = true
                    room = session.sendBufferRoom(refreshingSize: true)
                    continue
                }
                status.sendBufferDeferrals.add(1, ordering: .relaxed)
                break
            }
            do {
                try handle(borrowedBatch[index], on: session)
            } catch {
                // Its caller was answered (the publish was rolled back); the owner thread reconnects.
                borrowedFailure = error
                index += 1
                break
            }
            index += 1
        }
        let written = index - borrowedBatch.startIndex - (borrowedFailure == nil ? 0 : 1)
        if written > 0 {
            status.borrowedPublishes.add(written, ordering: .relaxed)
            status.borrowedPasses.add(1, ordering: .relaxed)
        }
        // One write for the pass; what the socket does not take now stays queued for the owner thread.
        var flushed = true
        if borrowedFailure == nil {
            do {
                flushed = try session.flushQueued(waiting: false)
            } catch {
                borrowedFailure = error
            }
        }
        guard index < borrowedBatch.endIndex else { return flushed && borrowedFailure == nil }
        mailbox.requeueAtFront(borrowedBatch[index...])
        return false
    }

    /// Has this connection's frames read by `reader`'s thread while this thread sleeps (see the type's doc).
    func delegateReads(to reader: Mailbox) { readDelegate = reader }

    /// Lets this thread put off its delegators' reads for up to `milliseconds` while `allowed` (see the type's doc).
    func deferDelegatedReads(upToMilliseconds milliseconds: Int32, while allowed: @escaping @Sendable () -> Bool) {
        readDeferral = (milliseconds, allowed)
    }

    /// Publishes ``deferrableConfirms`` for readers (after every change to the tracker, under ``lock``).
    private func noteConfirms() {
        deferrableConfirms.store(confirms.urgent > 0 ? -1 : confirms.outstanding, ordering: .relaxed)
    }

    /// Past this many outstanding confirms a deferral saves nothing: the thread wakes for deliveries anyway (many
    /// requests in flight), and the deferred read's own `poll` is a syscall more per sleep.
    private static let deferrableConfirmsAtMost = 4

    /// Reads `delegator`'s frames on this thread while its own sleeps (see the type's doc).
    func readFrames(for delegator: OwnerBox) {
        guard !delegators.contains(where: { $0 === delegator }) else { return }
        delegators.append(delegator)
    }

    /// Reads the frames ready on this connection's socket on the calling thread — the reader's, which took ``lock``
    /// with `tryLock` because its poll found the socket readable. Returns false, reading nothing, when this thread
    /// must read instead: no live connection, a borrowed failure pending, frames still queued for writing, or a send
    /// buffer filling up (a heartbeat written from inside the read must not wait for the broker).
    func borrowedReadPass() -> Bool {
        guard let session = served, borrowedFailure == nil, session.queuedBytes == 0,
              session.sendBufferRoom() >= Self.delegatedReadRoomBytes else { return false }
        do {
            try readFrames(from: session)
        } catch {
            // This thread tears the connection down when it wakes (the reader wakes it).
            borrowedFailure = error
            return false
        }
        status.delegatedReadPasses.add(1, ordering: .relaxed)
        // This thread may sleep through many such passes: the gauge follows the confirms here too.
        status.unconfirmed.store(confirms.outstanding, ordering: .relaxed)
        return true
    }

    /// Hands the reading back to this connection's thread and wakes it. Touches only atomics and the mailbox, so
    /// the reader calls it without ``lock`` (it failed to take it, or stops serving).
    func returnReads() {
        guard delegatedSocket.exchange(-1, ordering: .relaxed) >= 0 else { return }
        status.delegatedReadsReturned.add(1, ordering: .relaxed)
        mailbox.wake()
    }

    /// Room a delegated read needs in the send buffer: a heartbeat or a channel's close-ok, many times over.
    private static let delegatedReadRoomBytes = 1_024

    private func answerFirstConnect(_ result: Result<Void, AMQPError>) {
        firstConnect?(result)
        firstConnect = nil
    }

    /// The error as a connect failure of `endpoint`, so a report over several endpoints says which failed how.
    private static func naming(_ endpoint: AMQPConfiguration.Endpoint, in error: AMQPError) -> AMQPError {
        if case .connectFailed = error { return error }
        return .connectFailed(host: endpoint.host, port: endpoint.port, reason: error.description)
    }

    // MARK: Connection lifecycle

    private func establish(on session: RabbitSession) throws(AMQPError) {
        for exchange in topology.exchanges { try session.declare(exchange) }
        for queue in topology.queues { try session.declare(queue) }
        for binding in topology.bindings { try session.bind(binding) }
        try session.qos(prefetch: prefetch)
        for tag in consumerOrder {
            guard let consumer = consumers[tag] else { continue }
            try session.consume(queue: consumer.specification.queue, consumerTag: tag,
                                noAck: consumer.specification.noAck, exclusive: consumer.specification.exclusive)
        }
        lastInbound = .now
    }

    private func teardown(_ error: AMQPError) {
        let reason: AMQPError = switch error {
        case .closed: .closed
        default: .connectionLost(reason: error.description)
        }
        borrowedFailure = nil
        confirms.failAll(reason)
        noteConfirms()
        status.unconfirmed.store(0, ordering: .relaxed)
        acks.reset()
        assembler.reset()
    }

    /// Sleeps for the backoff while still answering the mailbox: publishes fail at once (no
    /// confirm is possible), stale acks are dropped, everything else waits for the connection.
    private func waitWhileDisconnected(_ duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while !closing {
            for command in mailbox.drain() { handleDisconnected(command) }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero, !closing else { return }
            var descriptor = pollfd(fd: mailbox.wakeDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(clamping: max(1, remaining.inMilliseconds)))
        }
    }

    private func handleDisconnected(_ command: Command) {
        switch command {
        case .publish(_, let completion):
            completion?(.failure(.connectionLost(reason: "reconnecting to \(endpoints[endpointIndex])")))
        case .ack, .nack:
            status.update { $0.staleAcksDropped += 1 }
        case .close(let completion):
            closing = true
            closeCompletions.append(completion)
        case .cancelConsumers(let completion):
            stopConsumers()
            completion()
        case .declare, .consume:
            deferred.append(command)
        }
    }

    private func jittered(_ delay: Duration) -> Duration {
        delay * Double.random(in: 0.8...1.2)
    }

    // MARK: Serving a live connection

    /// The owner serving on the calling thread, if it is one: only that thread may touch it (it holds the lock).
    static var servingOnThisThread: ConnectionOwner? {
        guard let raw = cloudbus_serving_owner_here() else { return nil }
        return Unmanaged<ConnectionOwner>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Other connections whose publishes this thread's jobs posted during the pass (see `AMQPConnection.postPublish`).
    private var borrowsBeforeSleeping: [(box: OwnerBox, mailbox: Mailbox)] = []

    /// Runs `box`'s publishes at the end of this pass, before the thread sleeps (or wakes its owner if it is busy).
    func borrowBeforeSleeping(_ box: OwnerBox, wakingIfBusy mailbox: Mailbox) {
        guard !borrowsBeforeSleeping.contains(where: { $0.box === box }) else { return }
        borrowsBeforeSleeping.append((box, mailbox))
    }

    private func runBorrowsBeforeSleeping() {
        guard !borrowsBeforeSleeping.isEmpty else { return }
        for (box, mailbox) in borrowsBeforeSleeping where !box.borrowPublishPass() { mailbox.wake() }
        borrowsBeforeSleeping.removeAll(keepingCapacity: true)
    }

    /// Rounds of queued jobs one pass runs at most (see `serve`).
    private static let jobRoundsPerPass = 4

    /// Publishes this connection's socket for the reader to poll, or takes it back; a reader that did not poll it
    /// yet is woken to (re)build its poll with it.
    private func delegateReading(_ delegate: Bool, socket: Int32) {
        guard let reader = readDelegate else { return }
        if delegate {
            if delegatedSocket.exchange(socket, ordering: .relaxed) != socket { reader.wake() }
        } else {
            delegatedSocket.store(-1, ordering: .relaxed)
        }
    }

    /// Appends the sockets of delegators that sleep now to `descriptors` (past this connection's two), in
    /// ``polledDelegators``' order.
    private func watchDelegatedSockets(in descriptors: inout [pollfd]) {
        descriptors.removeSubrange(2...)
        polledDelegators.removeAll(keepingCapacity: true)
        for delegator in delegators {
            let socket = delegator.delegatedSocket
            guard socket >= 0 else { continue }
            descriptors.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0))
            polledDelegators.append(delegator)
        }
    }

    /// Whether this sleep may leave out the delegators' sockets: a deferral is set and allows it, some delegator has
    /// confirms to come, no more than a few, and none that something besides bookkeeping waits for (with nothing
    /// outstanding there is nothing to put off, and the bound would only wake an idle thread).
    private func mayDeferDelegatedReads() -> Bool {
        guard let readDeferral, polledDelegators.count > 0 else { return false }
        var outstanding = 0
        for delegator in polledDelegators {
            let deferrable = delegator.deferrableConfirms
            guard deferrable >= 0 else { return false }
            outstanding += deferrable
        }
        return outstanding > 0 && outstanding <= Self.deferrableConfirmsAtMost && readDeferral.allowed()
    }

    /// Reads the frames of every delegator whose socket the poll found ready, or hands the reading back to it.
    private func readForDelegators(_ descriptors: [pollfd]) {
        for (offset, delegator) in polledDelegators.enumerated()
        where descriptors[2 + offset].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            if !delegator.borrowReadPass() { delegator.returnReads() }
        }
    }

    private func serve(_ session: RabbitSession) throws(AMQPError) {
        let heartbeat = session.negotiatedHeartbeatSeconds
        let pollTimeout = heartbeat > 0 ? min(1000, heartbeat * 250) : 1000
        var descriptors = [
            pollfd(fd: session.socketDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: mailbox.wakeDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        // Only touch what poll reported ready: an empty eventfd read or a recv that ends in EAGAIN costs a
        // syscall per message. After a poll timeout both are visited (rabbitmq-c sends a due heartbeat from
        // inside its frame read). A post racing with a skipped drain re-arms the eventfd, so it is never lost;
        // a post from this thread (a job's ack) sets no eventfd and is seen by the look at the list before the poll.
        var drainMailbox = true
        var readSocket = true
        var batch: [Command] = []  // swapped with the mailbox's list each pass (see `Mailbox.drain(into:)`)
        var jobs: [UnownedJob] = []  // likewise with the executor's queue
        // Whether the eventfd may hold a wake-up: reading it when poll did not say so is a wasted syscall per pass
        // (this thread's own posts, the common case under load, set none).
        var clearWake = true
        executor.beginServing()
        cloudbus_set_serving_owner(Unmanaged.passUnretained(self).toOpaque())
        served = session
        // Only now: a task that `start()`'s caller starts on this connection's executor finds it serving.
        answerFirstConnect(.success(()))
        // Whether this connection's reading is delegated now (decided before every sleep), and whether it may be.
        var delegating = false
        let mayDelegate = readDelegate != nil && session.writesDirectly
        // Deliveries came since the last sleep that put off the delegators' reads (see the type's doc).
        var deliveriesSinceDeferral = false
        defer {
            served = nil
            delegatedSocket.store(-1, ordering: .relaxed)
            executor.endServing()
            cloudbus_set_serving_owner(nil)
            // Nobody runs them here any more: their owners do.
            for (_, mailbox) in borrowsBeforeSleeping { mailbox.wake() }
            borrowsBeforeSleeping.removeAll()
            // Nor reads: delegators read their own sockets until this thread serves again.
            for delegator in delegators { delegator.returnReads() }  // a no-op for one that reads its own
        }
        while true {
            if drainMailbox {
                mailbox.drain(into: &batch, clearingWake: clearWake)
                defer { batch.removeAll(keepingCapacity: true) }
                try handleBatch(batch, on: session)
            }
            if closing { return }
            try flushAcks(on: session)
            if readSocket || session.hasBufferedInput { try readFrames(from: session) }
            // The tasks those deliveries woke (consumers, key runners) and those whose confirms came: their acks are
            // posted from this thread and go out in the next pass, their publishes to another connection before this
            // thread sleeps (`runBorrowsBeforeSleeping`).
            var moreJobs = executor.runQueued(into: &jobs)
            // And the jobs those enqueued — a delivery's consumer task hands it to its key's runner, which writes the
            // reply — a few rounds more, so a reply does not wait for a poll; bounded, so jobs cannot starve the socket.
            var rounds = 1
            while moreJobs && rounds < Self.jobRoundsPerPass {
                moreJobs = executor.runQueued(into: &jobs)
                rounds += 1
            }
            let pendingCommands = !mailbox.isEmpty
            // With work left the poll only refreshes readiness (so a stream of jobs cannot starve the socket);
            // otherwise it sleeps until the socket, a wake-up or the heartbeat's quarter.
            let busy = pendingCommands || moreJobs || session.hasBufferedInput
            if !busy { status.unconfirmed.store(confirms.outstanding, ordering: .relaxed) }
            descriptors[0].revents = 0
            descriptors[1].revents = 0
            runBorrowsBeforeSleeping()
            // What this pass queued goes out in one write before the thread sleeps; meanwhile publishers may run their
            // publishes themselves (`borrowedPublishPass`).
            try session.flushQueued(waiting: true)
            delegating = mayDelegate && readDelegate?.isServing == true
            delegateReading(delegating, socket: session.socketDescriptor)
            watchDelegatedSockets(in: &descriptors)
            let deferring = !busy && !delegating && deliveriesSinceDeferral && mayDeferDelegatedReads()
            if deferring {
                deliveriesSinceDeferral = false
                status.deferredDelegatedReads.add(1, ordering: .relaxed)
            }
            lock.unlock()
            let timeout = busy ? 0 : deferring ? readDeferral?.milliseconds ?? 0 : Int32(pollTimeout)
            // A delegating connection leaves its socket to the reader's poll: only its eventfd is watched here. A
            // deferring one leaves its delegators' sockets out of the sleep and looks at them, without waiting, after.
            let (ready, pollErrno) = descriptors.withUnsafeMutableBufferPointer { watched in
                let first = delegating ? 1 : 0
                let ready = poll(watched.baseAddress! + first, nfds_t((deferring ? 2 : watched.count) - first), timeout)
                let pollErrno = errno
                if deferring { _ = poll(watched.baseAddress! + 2, nfds_t(watched.count - 2), 0) }
                return (ready, pollErrno)
            }
            lock.lock()
            if let failure = borrowedFailure {
                borrowedFailure = nil
                throw failure
            }
            if ready < 0 && pollErrno != EINTR {
                throw .connectionLost(reason: "poll failed: errno \(pollErrno)")
            }
            let now = MonotonicInstant.now
            // A deferral's bound passing is not the heartbeat's timeout.
            let timedOut = ready == 0 && !busy && !deferring
            let socketReady = !delegating && descriptors[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
            if socketReady {
                lastInbound = now
                deliveriesSinceDeferral = true
            }
            // The reader handed the reading back (it could not take the lock, or the send buffer was filling).
            let readingReturned = delegating
                && delegatedSocket.load(ordering: .relaxed) != session.socketDescriptor
            clearWake = timedOut || ready < 0 || descriptors[1].revents & Int16(POLLIN) != 0
            drainMailbox = pendingCommands || clearWake
            readSocket = timedOut || ready < 0 || socketReady || readingReturned
            if ready > 0 || deferring { readForDelegators(descriptors) }
            if heartbeat > 0, lastInbound.nanoseconds(to: now) > Int64(heartbeat) * 2_000_000_000 {
                throw .connectionLost(reason: "no data or heartbeat from the broker for \(heartbeat * 2)s")
            }
            // Four times a second at most, not once per poll under load: callers are released within about a
            // second of their bound (the poll timeout is ≤ 1 s), and a busy loop pays nothing for it.
            if now >= nextConfirmCheck, confirms.outstanding > 0 {
                nextConfirmCheck = now.advanced(byNanoseconds: 250_000_000)
                let expired = confirms.expire(now: now)
                noteConfirms()
                if expired > 0 {
                    status.update { $0.confirmTimeouts += expired }
                    logger.warning("publishes got no confirm in time", metadata: [
                        "amqp.expired": "\(expired)", "amqp.confirmTimeout": "\(configuration.confirmTimeout)",
                    ])
                }
            }
        }
    }

    /// Handles commands in order; when one fails the connection, the rest of the batch is answered as if
    /// disconnected (publishes fail, declarations wait for the next connection), so no caller waits forever.
    private func handleBatch(_ commands: [Command], on session: RabbitSession) throws(AMQPError) {
        for index in commands.indices {
            do {
                try handle(commands[index], on: session)
            } catch {
                for rest in commands[(index + 1)...] { handleDisconnected(rest) }
                throw error
            }
        }
    }

    private func handle(_ command: Command, on session: RabbitSession) throws(AMQPError) {
        switch command {
        case .publish(let message, let completion):
            let deadline = MonotonicInstant.now.advanced(byNanoseconds: confirmTimeoutNanoseconds)
            let (sequence, messageID) = confirms.register(mandatory: message.mandatory,
                                                          userMessageID: message.properties.messageID,
                                                          epoch: epoch, deadline: deadline,
                                                          mayWait: message.confirmMayWait, completion: completion)
            defer { noteConfirms() }
            do {
                try session.queuePublish(message, messageID: messageID)
            } catch {
                confirms.rollback(sequence: sequence)
                throw error
            }
        case .ack(let tag):
            guard tag.epoch == epoch, tag.acknowledgeable else {
                status.update { $0.staleAcksDropped += 1 }
                return
            }
            acks.ack(tag.value)
        case .nack(let tag, let requeue):
            guard tag.epoch == epoch, tag.acknowledgeable else {
                status.update { $0.staleAcksDropped += 1 }
                return
            }
            acks.nack(tag.value, requeue: requeue)
        case .declare(let declaration, let completion):
            do {
                for exchange in declaration.exchanges { try session.declare(exchange) }
                for queue in declaration.queues { try session.declare(queue) }
                for binding in declaration.bindings { try session.bind(binding) }
            } catch {
                completion(.failure(error))
                // A refused declaration closes the channel: start over with what was recorded.
                throw error
            }
            record(declaration)
            completion(.success(()))
        case .consume(let specification, let consumer, let completion):
            do {
                try session.consume(queue: specification.queue, consumerTag: consumer.tag, noAck: specification.noAck,
                                exclusive: specification.exclusive)
            } catch {
                consumer.deliveries.finish()
                completion(.failure(error))
                throw error
            }
            consumers[consumer.tag] = consumer
            lastConsumer = nil
            consumerOrder.append(consumer.tag)
            completion(.success(()))
        case .cancelConsumers(let completion):
            // Whatever the broker says, the caller is answered and no consumer is re-established.
            defer {
                stopConsumers()
                completion()
            }
            for tag in consumerOrder where consumers[tag] != nil {
                try session.cancel(consumerTag: tag)
            }
        case .close(let completion):
            closing = true
            closeCompletions.append(completion)
        }
    }

    private func stopConsumers() {
        for consumer in consumers.values { consumer.deliveries.finish() }
        consumers.removeAll()
        lastConsumer = nil
        consumerOrder.removeAll()
    }

    private func record(_ declaration: Topology) {
        for exchange in declaration.exchanges where !topology.exchanges.contains(exchange) { topology.exchanges.append(exchange) }
        for queue in declaration.queues where !topology.queues.contains(queue) { topology.queues.append(queue) }
        for binding in declaration.bindings where !topology.bindings.contains(binding) { topology.bindings.append(binding) }
    }

    private func flushAcks(on session: RabbitSession) throws(AMQPError) {
        for frame in acks.flush() {
            switch frame {
            case .ack(let tag, let multiple): try session.queueAck(tag, multiple: multiple)
            case .nack(let tag, let requeue): try session.queueNack(tag, requeue: requeue)
            }
        }
    }

    // MARK: Frames

    private func readFrames(from session: RabbitSession) throws(AMQPError) {
        var read = 0
        while let frame = try session.nextFrame() {
            read += 1
            try handle(frame, on: session)
            // What one receive brought is handled: stop here rather than try the socket again, which costs a
            // receive that ends in EAGAIN and rabbitmq-c's own zero-timeout poll per pass. If more has arrived,
            // the pass's poll says so.
            if !session.hasBufferedInput { break }
        }
        if read > 0 {
            lastInbound = .now
            session.releaseBuffers()
        }
    }

    private func handle(_ frame: amqp_frame_t, on session: RabbitSession) throws(AMQPError) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            try handleMethod(frame.payload.method, channel: frame.channel, on: session)
        case AMQP_FRAME_HEADER:
            if let complete = try assembler.header(frame) { dispatch(complete) }
        case AMQP_FRAME_BODY:
            if let complete = try assembler.body(frame) { dispatch(complete) }
        default:
            break
        }
    }

    private func handleMethod(_ method: amqp_method_t, channel: amqp_channel_t, on session: RabbitSession) throws(AMQPError) {
        guard let decoded = method.decoded else { return }
        switch method.id {
        case MethodID.basicDeliver:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let consumerTag = recentStrings.string(deliver.consumer_tag)
            assembler.begin(.deliver(consumerTag: consumerTag, deliveryTag: deliver.delivery_tag,
                                     redelivered: deliver.redelivered != 0,
                                     exchange: recentStrings.string(deliver.exchange),
                                     routingKey: recentStrings.string(deliver.routing_key)), channel: channel,
                            limit: consumer(tagged: consumerTag)?.specification.maxBodyBytes)
        case MethodID.basicReturn:
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            assembler.begin(.returned(replyCode: returned.reply_code, replyText: returned.reply_text.string,
                                      exchange: returned.exchange.string, routingKey: returned.routing_key.string),
                            channel: channel)
        case MethodID.basicAck:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirms.acknowledge(upTo: ack.delivery_tag, multiple: ack.multiple != 0, nack: false)
            noteConfirms()
        case MethodID.basicNack:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirms.acknowledge(upTo: nack.delivery_tag, multiple: nack.multiple != 0, nack: true)
            noteConfirms()
        case MethodID.basicCancel:
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            // The queue was deleted or its node went away: re-declare and re-subscribe.
            throw .connectionLost(reason: "broker cancelled consumer \(cancel.consumer_tag.string)")
        case MethodID.channelClose, MethodID.connectionClose:
            if let error = session.brokerClose(method, channel: channel, channelOperation: "channel \(channel)",
                                               connectionOperation: "connection") {
                throw error
            }
        case MethodID.connectionBlocked:
            status.update { $0.blocked = true }
            logger.warning("broker blocked publishing on this connection (resource alarm)")
        case MethodID.connectionUnblocked:
            status.update { $0.blocked = false }
            logger.info("broker unblocked publishing")
        default:
            break
        }
    }

    /// The consumer a delivery's tag names. Looked up twice per delivery (its method frame, its dispatch) and mostly
    /// the same one as the last (a connection's deliveries come in runs from one queue; the tag is one string from
    /// `RecentStrings`, equal by its storage): the last one found is compared first, which spares hashing the tag
    /// (~700 instructions a lookup, counted with callgrind).
    private func consumer(tagged tag: String) -> Consumer? {
        if let lastConsumer, lastConsumer.tag == tag { return lastConsumer }
        lastConsumer = consumers[tag]
        return lastConsumer
    }

    private func dispatch(_ content: consuming ContentAssembler.Complete) {
        switch content.origin {
        case .deliver(let consumerTag, let deliveryTag, let redelivered, let exchange, let routingKey):
            guard let consumer = consumer(tagged: consumerTag) else {
                // Arrived after we cancelled the consumer: hand it back to the queue.
                acks.delivered(deliveryTag)
                acks.nack(deliveryTag, requeue: true)
                return
            }
            let noAck = consumer.specification.noAck
            if !noAck { acks.delivered(deliveryTag) }
            consumer.deliveries.yield(Delivery(
                tag: DeliveryTag(epoch: epoch, value: deliveryTag, acknowledgeable: !noAck),
                queue: consumer.specification.queue, exchange: exchange, routingKey: routingKey,
                redelivered: redelivered, properties: content.properties, body: content.body,
                announcedBodySize: content.announced))
        case .returned(let replyCode, let replyText, let exchange, let routingKey):
            status.update { $0.returnedMessages += 1 }
            logger.warning("broker returned an unroutable message", metadata: [
                "amqp.exchange": "\(exchange)", "amqp.routingKey": "\(routingKey)",
                "amqp.replyCode": "\(replyCode)", "amqp.replyText": "\(replyText)",
            ])
            confirms.markReturned(messageID: content.properties.messageID, replyCode: replyCode, replyText: replyText)
        }
    }
}
