/// Declarations the connection re-applies, in order, after every reconnect.
public struct ExchangeDeclaration: Sendable, Equatable {
    public enum Kind: String, Sendable { case direct, fanout, topic, headers }
    public var name: String
    public var kind: Kind
    public var durable: Bool
    public var autoDelete: Bool
    public var arguments: AMQPTable
    /// Only check the exchange exists (do not create or compare flags).
    public var passive: Bool

    public init(name: String, kind: Kind, durable: Bool = false, autoDelete: Bool = false,
                arguments: AMQPTable = [:], passive: Bool = false) {
        self.name = name
        self.kind = kind
        self.durable = durable
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.passive = passive
    }
}

public struct QueueDeclaration: Sendable, Equatable {
    public var name: String
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    public var arguments: AMQPTable

    public init(name: String, durable: Bool = false, exclusive: Bool = false, autoDelete: Bool = false,
                arguments: AMQPTable = [:]) {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
    }
}

public struct QueueBinding: Sendable, Equatable {
    public var queue: String
    public var exchange: String
    public var routingKey: String

    public init(queue: String, exchange: String, routingKey: String) {
        self.queue = queue
        self.exchange = exchange
        self.routingKey = routingKey
    }
}

public struct Topology: Sendable, Equatable {
    public var exchanges: [ExchangeDeclaration]
    public var queues: [QueueDeclaration]
    public var bindings: [QueueBinding]

    public init(exchanges: [ExchangeDeclaration] = [], queues: [QueueDeclaration] = [], bindings: [QueueBinding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }
}

/// A subscription the connection re-establishes after every reconnect.
public struct ConsumerSpecification: Sendable, Equatable {
    public var queue: String
    /// No-ack consumers are for replies the caller can afford to lose (RPC inboxes); the worker uses manual ack.
    public var noAck: Bool
    /// The only consumer of the queue: the broker refuses a second one (403 ACCESS_REFUSED), so two processes that
    /// believe they own the same queue cannot both take from it and break its order.
    public var exclusive: Bool
    /// The largest body this consumer takes whole. A delivery whose content header announces more is never
    /// assembled: the owner thread keeps its first ``Delivery/truncatedPrefixBytes`` and drops the rest as the frames
    /// arrive, so a hostile 1 GiB body costs 4 KiB of memory; ``Delivery/isTruncated`` tells the consumer. Nil: no
    /// limit (the broker's own `max_message_size`, 128 MiB by default, still applies).
    public var maxBodyBytes: Int?

    public init(queue: String, noAck: Bool = false, exclusive: Bool = false, maxBodyBytes: Int? = nil) {
        self.queue = queue
        self.noAck = noAck
        self.exclusive = exclusive
        self.maxBodyBytes = maxBodyBytes
    }
}
