import AMQP
import CloudBus

/// The exchanges, queues and bindings of a ZStack-compatible bus, declared exactly as ZStack's
/// `CloudBusImpl2` declares the exchanges so both can share one broker without
/// PRECONDITION_FAILED. The worker's own queues deliberately differ from ZStack's auto-delete
/// queues: a queue that dies with its consumer takes unacked messages with it.
public enum BusTopology {
    /// `P2P` (topic, durable, alternate exchange `NO_ROUTE`), `BROADCAST` (topic), `NO_ROUTE` (fanout).
    public static let exchanges: [ExchangeDeclaration] = [
        ExchangeDeclaration(name: BusNames.noRouteExchange, kind: .fanout),
        ExchangeDeclaration(name: BusNames.p2pExchange, kind: .topic, durable: true,
                            arguments: ["alternate-exchange": .string(BusNames.noRouteExchange)]),
        ExchangeDeclaration(name: BusNames.broadcastExchange, kind: .topic),
    ]

    /// Queues of the services a worker serves, each bound to `P2P` with its own name, plus the broadcast queue for
    /// canonical events and the shared dead-letter queue with its exchange. Every queue of the worker dead-letters
    /// to ``deadLetterExchange``, so a request the broker gives up on (expired, past its delivery limit) leaves a
    /// copy in ``deadLetterQueue`` instead of vanishing.
    public static func worker(node: NodeUUID, services: [String], queues options: WorkerQueueOptions) -> Topology {
        var topology = serviceQueues(node: node, services: services, queues: options)
        let events = eventQueue(node: node)
        topology.queues.append(QueueDeclaration(name: events, durable: options.durable,
                                                arguments: deadLettering(options)))
        topology.bindings.append(QueueBinding(queue: events, exchange: BusNames.broadcastExchange,
                                              routingKey: CanonicalEvent.routingKey))
        return topology
    }

    /// ``worker(node:services:queues:)`` without the event queue: what a survivor declares to drain a departed
    /// worker's requests. Only a running worker reads its event queue; declared again for a departed one, it would
    /// collect a copy of every broadcast event for nobody (and dead-letter each as it expires).
    public static func serviceQueues(node: NodeUUID, services: [String], queues options: WorkerQueueOptions)
        -> Topology
    {
        var topology = Topology(exchanges: exchanges)
        let arguments = deadLettering(options)
        // One consumer at a time takes from a service queue: the worker, or the survivor draining it after the worker
        // left. On classic queues the consumers say so (exclusive consume: a second is refused, and RabbitMQ refuses
        // exclusive consumes on single-active-consumer classic queues); quorum queues (RabbitMQ 3.10) ignore the
        // exclusive flag, so there the queue says so: with a single active consumer, a drain of a worker that is in
        // fact alive gets nothing until the worker's own consumer goes.
        var serviceArguments = arguments
        if options.kind == .quorum { serviceArguments["x-single-active-consumer"] = .bool(true) }
        for service in services {
            let queue = ServiceID(service: service, node: node).queueName
            topology.queues.append(QueueDeclaration(name: queue, durable: options.durable, arguments: serviceArguments))
            topology.bindings.append(QueueBinding(queue: queue, exchange: BusNames.p2pExchange, routingKey: queue))
        }
        let deadLetters = deadLetters(kind: options.kind)
        topology.exchanges += deadLetters.exchanges
        topology.queues += deadLetters.queues
        topology.bindings += deadLetters.bindings
        return topology
    }

    /// The dead-letter exchange and the shared queue bound to it: part of every worker's topology, and what the
    /// worker declares again when the broker returns a dead-letter copy because the queue is gone.
    public static func deadLetters(kind: WorkerQueueOptions.Kind) -> Topology {
        Topology(
            exchanges: [ExchangeDeclaration(name: deadLetterExchange, kind: .fanout, durable: true)],
            // Classic: declared without `x-queue-type`, as earlier versions did, so their queue is still equivalent.
            queues: [QueueDeclaration(name: deadLetterQueue, durable: true,
                                      arguments: kind == .quorum ? ["x-queue-type": .string("quorum")] : [:])],
            bindings: [QueueBinding(queue: deadLetterQueue, exchange: deadLetterExchange, routingKey: "")])
    }

    /// The arguments every queue of a worker has: dead-lettering to ``deadLetterExchange``, and the queue type.
    private static func deadLettering(_ options: WorkerQueueOptions) -> AMQPTable {
        var arguments: AMQPTable = ["x-dead-letter-exchange": .string(deadLetterExchange)]
        if options.kind == .quorum {
            arguments["x-queue-type"] = .string("quorum")
            arguments["x-delivery-limit"] = .int64(Int64(options.deliveryLimit))
        }
        return arguments
    }

    /// Where the broker sends what it gives up on from the worker's queues (fanout to ``deadLetterQueue``); RabbitMQ
    /// records why in `x-first-death-reason` (`expired`, `delivery_limit`, `rejected`) and `x-death`.
    public static let deadLetterExchange = "cloudbus.worker.dead-letter"

    /// Canonical events for one worker (`zstack.event.cloudbus-worker.<node>`).
    public static func eventQueue(node: NodeUUID) -> String {
        BusNames.eventQueue(name: "cloudbus-worker.\(node.rawValue)")
    }

    /// Where the worker keeps a copy of every message it could not process, with the reason in
    /// its headers. Durable and shared by all workers of a broker, so an operator has one place to look.
    public static let deadLetterQueue = "cloudbus.worker.dead-letters"

    /// A caller's reply inbox (`zstack.message.cloudbus.<node>`), as ZStack names it, with ZStack's
    /// arguments (dead-lettering to `NO_ROUTE`, expiring when unused for 5 minutes).
    public static func replyInbox(node: NodeUUID) -> Topology {
        let queue = ServiceID.replyInbox(of: node).queueName
        return Topology(
            exchanges: exchanges,
            queues: [QueueDeclaration(name: queue, autoDelete: true, arguments: [
                "x-dead-letter-exchange": .string(BusNames.noRouteExchange),
                "x-dead-letter-routing-key": .string(BusNames.deadLetterRoutingKey),
                "x-expires": .int64(300_000),
            ])],
            bindings: [QueueBinding(queue: queue, exchange: BusNames.p2pExchange, routingKey: queue)])
    }
}
