import AMQP
import CloudBus
import CloudBusAMQP
import Inventory
import KeyedExecution
import Logging
import ServiceLifecycle
import Synchronization

/// What the worker keeps in the store for its delivery guarantees: the answered-message window and the outbox.
public typealias WorkerStore = AnsweredMessageStore & OutboxStore & DeliveryAttemptStore

/// The worker as a service: consumes its service queues and the canonical-event queue, feeds
/// every delivery through the `DeliveryPipeline`, and on graceful shutdown stops consuming,
/// drains in-flight work within a bound, acks, and closes (unacked work returns to the queues).
public final class BusWorker: Service {
    public let node: NodeUUID
    public let metrics: WorkerMetrics
    /// Consumes and acks. It never publishes, so a broker resource alarm (which blocks publishing connections)
    /// never stops the acks — RabbitMQ's own advice.
    public let connection: AMQPConnection
    /// Publishes replies, outputs and dead-letter copies, each waiting for its confirm at most
    /// `AMQPConfiguration.confirmTimeout`.
    public let publishConnection: AMQPConnection
    private let configuration: WorkerConfiguration
    private let logger: Logger
    private let readiness = Mutex<(state: Readiness, waiters: [CheckedContinuation<Void, any Error>])>((.starting, []))

    private enum Readiness { case starting, ready, failed(any Error) }
    /// Set when graceful shutdown begins: the worker stops consuming and drains, so it is no longer ready.
    private let draining = Atomic<Bool>(false)
    private let executorBox = Mutex<KeyedSerialExecutor<String>?>(nil)
    /// Held while `serve` runs (see ``DataDirectoryLock``).
    private let dataDirectoryLock = Mutex<DataDirectoryLock?>(nil)
    /// What membership of a fleet adds (nil: a worker alone), fixed at init.
    private let fleet: FleetHooks?
    /// Where handler bodies that are not lightweight run (empty: the cooperative pool).
    private let handlerExecutors: [any TaskExecutor]

    /// Drains a departed worker's service queues into their owners' (``DepartedQueueDrain``).
    func drainDeparted(_ departed: NodeUUID, services: [String], membership: ClusterMembership,
                       checkEvery interval: Duration, keepGoing: @escaping @Sendable () async -> Bool) async {
        await DepartedQueueDrain(departed: departed, services: services, selfNode: node, membership: membership,
                                 handlers: handlers, configuration: configuration, metrics: metrics, logger: logger)
            .run(checkEvery: interval, keepGoing: keepGoing)
    }

    /// The outputs' publisher while the worker serves (nil before and after): what ``announce(_:)`` uses.
    private let publisherBox = Mutex<BusPublisher?>(nil)

    /// Bound on draining in-flight handlers at shutdown before they are cancelled. Default: 30 s.
    public let drainTimeout: Duration

    /// - Parameters:
    ///   - eventSubscribers: who reacts to canonical events (the hash ring's membership, the VM tracer's skip
    ///     registry, the inventory's VM states); events of paths nobody subscribed to are acked and dropped.
    ///   - store: where answered message ids with their replies, and the outbox, are kept across restarts (nil: the
    ///     window in memory only, and no outbox).
    ///   - fleet: the fleet's ring, consume gate and store check when the worker is a member of one (nil: alone).
    ///   - handlerExecutors: where the bodies of handlers that are not lightweight run, a key always on the same one:
    ///     the agent client's event loops (`EventLoopTaskExecutor`), so an agent call and what follows it stay on
    ///     one thread. Empty: the cooperative pool.
    init(configuration: WorkerConfiguration, node: NodeUUID, handlers: HandlerTable, logger: Logger,
         drainTimeout: Duration = .seconds(30), metrics: WorkerMetrics = WorkerMetrics(),
         eventSubscribers: [any CanonicalEventSubscriber] = [], store: (any WorkerStore)? = nil,
         fleet: FleetHooks?, handlerExecutors: [any TaskExecutor] = []) {
        self.store = store
        self.handlerExecutors = handlerExecutors
        self.fleet = fleet
        self.forwarding = fleet.map { Forwarding(membership: $0.ring, services: configuration.services) }
        self.configuration = configuration
        self.metrics = metrics
        self.drainTimeout = drainTimeout
        self.node = node
        self.logger = logger
        self.connection = AMQPConnection(configuration: configuration.amqp, prefetch: configuration.prefetch,
                                         logger: logger)
        var publishing = configuration.amqp
        publishing.connectionName += " (publish)"
        self.publishConnection = AMQPConnection(configuration: publishing, prefetch: configuration.prefetch,
                                                logger: logger)
        // The replies' confirms are read by the consuming thread, which runs the tasks that wait for them: a confirm
        // then wakes no thread (the publish connection's own reads whenever that thread cannot).
        publishConnection.delegateReads(to: connection)
        // Every worker answers echoes and reads canonical events, whatever domain handlers it was given.
        var table = handlers
        table.register(EchoHandler(crashOnPayload: configuration.testCrashOnPayload))
        if let payload = configuration.testCrashOnPayload {
            logger.critical("TEST CRASH SWITCH ON: an echo with this payload ends the process", metadata: [
                "payload": "\(payload)",
            ])
        }
        table.register(CanonicalEventHandler(node: node, metrics: metrics, logger: logger,
                                             subscribers: eventSubscribers,
                                             trusted: TrustedSenders(nodes: Set(configuration.trustedSenders))))
        self.handlers = table
        let gauges = WorkerGauges(factory: metrics.factory, connections: ["consume", "publish"])
        // Weak: the metrics outlive no worker in production, but a test process makes many workers.
        metrics.addCollector { [weak self] in self?.collectGauges(into: gauges) }
    }

    private let handlers: HandlerTable
    private let store: (any WorkerStore)?
    /// In a fleet: requests for resources another live worker owns are forwarded to it.
    private let forwarding: Forwarding?

    /// The queues this worker consumes.
    public var queues: [String] {
        configuration.services.map { ServiceID(service: $0, node: node).queueName } + [BusTopology.eventQueue(node: node)]
    }

    public func run() async throws {
        do {
            try await serve()
        } catch {
            settleReadiness(.failed(error))
            throw error
        }
    }

    private func serve() async throws {
        // Held until serve returns: a second worker on this data directory stops here with a clear error.
        let lock = try DataDirectoryLock.acquire(directory: configuration.dataDirectory)
        dataDirectoryLock.withLock { $0 = lock }
        defer { dataDirectoryLock.withLock { $0 = nil } }
        try await connection.start()
        try await publishConnection.start()
        try await connection.declare(BusTopology.worker(node: node, services: configuration.services,
                                                        queues: configuration.queueOptions))
        // Handlers run on the consuming connection's thread, between its polls, unless configured onto the pool: a
        // delivery is then read, handled and acked without a thread hand-off (see `OwnerThreadExecutor`).
        let taskExecutor: OwnerThreadExecutor? = configuration.handlersOnPool ? nil : connection.taskExecutor
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: Int(configuration.prefetch),
                                                   taskExecutor: taskExecutor, logger: logger)
        executorBox.withLock { $0 = executor }
        // A reply's confirm is read when this thread wakes for the next delivery, not by a wake-up of its own: only
        // bookkeeping waits for it. Not while a job waits behind a key, whose running job ends only with that confirm.
        connection.deferDelegatedReads(upTo: .milliseconds(1)) { executor.statistics.queuedJobs == 0 }
        // Outputs (requests to other services, events) are as durable as the deployment: persistent when the queues are.
        let publisher = BusPublisher(connection: publishConnection, persistent: configuration.queueOptions.durable)
        publisherBox.withLock { $0 = publisher }
        defer { publisherBox.withLock { $0 = nil } }
        // The answers from before a restart come back before the first delivery is taken.
        let ledger = DeliveryLedger(capacity: configuration.dedupeWindow, maxCachedBytes: configuration.replyCacheBytes)
        var journal: AnswerJournal?
        if let store {
            ledger.restore(try await store.answeredMessageIds(limit: configuration.dedupeWindow))
            journal = AnswerJournal(store: store, capacity: configuration.dedupeWindow, metrics: metrics,
                                    logger: logger, linger: .forPrefetch(Int(configuration.prefetch)))
        }
        let pipeline = DeliveryPipeline(
            connection: connection, publisher: publisher, handlers: handlers, executor: executor,
            ledger: ledger, journal: journal, store: store, forwarding: forwarding,
            deadLetters: DeadLetterSink(connection: publishConnection, node: node,
                                        queueKind: configuration.queueOptions.kind, metrics: metrics, logger: logger),
            metrics: metrics,
            settings: .init(maxBodyBytes: configuration.maxBodyBytes, keyBacklog: configuration.effectiveKeyBacklog,
                            publishFailureBackoff: configuration.publishFailureBackoff,
                            deliveryLimit: configuration.deliveryLimit, onConnectionThread: taskExecutor != nil,
                            handlerExecutors: handlerExecutors),
            logger: logger)
        // What the outbox still holds goes out on its keys before any delivery of those keys is taken.
        try await pipeline.sweepOutbox()
        if let fleet { await fleet.queuesReleased() }
        var streams: [DeliveryStream] = []
        for queue in queues {
            do {
                // Exclusive: a second process with this node id (another host, another data directory) is refused
                // by the broker instead of sharing the queue.
                streams.append(try await connection.consume(ConsumerSpecification(
                    queue: queue, exclusive: true, maxBodyBytes: configuration.maxBodyBytes)))
            } catch {
                guard case .channelClosed(_, 403, _) = error else { throw error }
                await connection.close()
                await publishConnection.close()
                throw WorkerStartError.queueInUse(queue: queue, node: node.rawValue)
            }
        }
        if taskExecutor != nil {
            // The pipeline runs on the consuming connection's thread anyway: a delivery read while the consumer task
            // waits is taken there and then, without waking that task (it still takes what needs an await).
            for stream in streams { stream.acceptDirectly { pipeline.acceptDirectly($0) } }
        }
        logger.info("worker serving", metadata: [
            "node": "\(node)", "queues": "\(queues.joined(separator: ","))", "prefetch": "\(configuration.prefetch)",
        ])
        settleReadiness(.ready)
        let connection = self.connection
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for stream in streams {
                    group.addTask(executorPreference: taskExecutor) {
                        for await delivery in stream { await pipeline.accept(delivery) }
                    }
                }
            }
        } onGracefulShutdown: { [self] in
            draining.store(true, ordering: .relaxed)
            Task { await connection.stopConsuming() }
        }
        await drain(executor)
        // Answers are acked once written: the last batch's acks are posted before the connection closes.
        if let journal, await !journal.written(within: drainTimeout) {
            logger.warning("answer journal's last batch not written within the drain bound; its messages will be redelivered")
        }
        await connection.close()  // sends the last acks
        await publishConnection.close()
        logger.info("worker stopped", metadata: ["node": "\(node)"])
    }

    private func drain(_ executor: KeyedSerialExecutor<String>) async {
        executor.shutdown(.drain)
        let timeout = drainTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await executor.waitUntilIdle() }
            group.addTask { try? await Task.sleep(for: timeout) }
            _ = await group.next()
            group.cancelAll()
        }
        if executor.statistics.runningJobs > 0 || executor.statistics.queuedJobs > 0 {
            logger.warning("drain bound reached; cancelling the rest (their messages return to the queue)")
            executor.shutdown(.cancel)
        }
    }

    /// Publishes a message of the worker's own (not the answer to a delivery: the fleet's lifecycle events), confirmed
    /// by the broker. Throws ``AnnounceError/notServing`` before the worker serves and after it stopped.
    public func announce(_ message: OutboundMessage) async throws {
        guard let publisher = publisherBox.withLock({ $0 }) else { throw AnnounceError.notServing }
        _ = try await publisher.publish(message)
    }

    public enum AnnounceError: Error, CustomStringConvertible {
        case notServing
        public var description: String { "the worker is not serving (no publishing connection)" }
    }

    /// Returns once the worker consumes its queues (tests and `make run` wait on it); throws the
    /// error that stopped it if it failed before that (e.g. a queue declared with other flags).
    public func waitUntilReady() async throws {
        try await withCheckedThrowingContinuation { continuation in
            let outcome: Result<Void, any Error>? = readiness.withLock { state in
                switch state.state {
                case .ready: return .success(())
                case .failed(let error): return .failure(error)
                case .starting:
                    state.waiters.append(continuation)
                    return nil
                }
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Whether the worker can take work now: it consumes its queues, both connections are up, and the broker does
    /// not block its publishing (a memory or disk alarm). What `/readyz` reports; it goes back to false while any
    /// of these does not hold and back to true when it does again.
    public var isReady: Bool { health == .ready }

    /// Why the worker is or is not ready.
    public enum Health: String, Sendable {
        case ready = "ok"
        case starting
        case disconnected
        case blocked = "blocked by a broker resource alarm"
        case storeUnavailable = "shared store unavailable"
        case draining = "draining: shutting down"
    }

    /// ``health`` as the one line `/readyz` answers: the reason, and for a lost connection which one and why.
    public var healthReport: String {
        let health = health
        guard health == .disconnected else { return health.rawValue }
        let down = [("consume", connection.statistics), ("publish", publishConnection.statistics)]
            .filter { !$0.1.connected }
            .map { name, statistics in "\(name) connection down" + (statistics.lastError.map { " (\($0))" } ?? "") }
        return "disconnected from the broker: " + down.joined(separator: "; ")
    }

    /// Refreshes the series that mirror this worker's state (readiness, executor load, both broker connections);
    /// ``WorkerMetrics/exposition()`` calls it before every export.
    private func collectGauges(into gauges: WorkerGauges) {
        gauges.collect(ready: health == .ready, executor: executorBox.withLock { $0?.statistics },
                       connections: [("consume", connection.statistics), ("publish", publishConnection.statistics)])
    }

    public var health: Health {
        guard readiness.withLock({ if case .ready = $0.state { true } else { false } }) else { return .starting }
        guard !draining.load(ordering: .relaxed) else { return .draining }
        let consuming = connection.statistics, publishing = publishConnection.statistics
        guard consuming.connected, publishing.connected else { return .disconnected }
        guard !(publishing.blocked || consuming.blocked) else { return .blocked }
        if let fleet, !fleet.storeAnswers() { return .storeUnavailable }
        return .ready
    }

    private func settleReadiness(_ outcome: Readiness) {
        let waiters = readiness.withLock { state in
            if case .starting = state.state { state.state = outcome }
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters {
            switch outcome {
            case .failed(let error): waiter.resume(throwing: error)
            default: waiter.resume()
            }
        }
    }

    /// Load of the keyed executor (nil before `run`).
    public var executorStatistics: ExecutorStatistics? { executorBox.withLock { $0?.statistics } }

    /// Messages waiting behind `key` (the running one not counted); 0 before `run`.
    public func executorQueueDepth(for key: String) -> Int { executorBox.withLock { $0?.queueDepth(for: key) ?? 0 } }
}
