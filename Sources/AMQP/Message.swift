/// The AMQP basic properties this module reads and writes. Protocols that carry correlation and reply-to in the
/// body leave those two empty; they are here for the ones that use the properties.
public struct AMQPProperties: Sendable, Equatable {
    /// 1 = transient, 2 = persistent.
    public var deliveryMode: UInt8?
    public var expiration: String?
    public var messageID: String?
    public var correlationID: String?
    public var replyTo: String?
    public var contentType: String?
    public var headers: AMQPTable

    public init(deliveryMode: UInt8? = nil, expiration: String? = nil, messageID: String? = nil,
                correlationID: String? = nil, replyTo: String? = nil, contentType: String? = nil,
                headers: AMQPTable = [:]) {
        self.deliveryMode = deliveryMode
        self.expiration = expiration
        self.messageID = messageID
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.contentType = contentType
        self.headers = headers
    }

    public static let transient = AMQPProperties(deliveryMode: 1)
    public static let persistent = AMQPProperties(deliveryMode: 2)
}

/// A message to publish. `mandatory` asks the broker to return it when no queue takes it.
public struct OutgoingMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: AMQPProperties
    public var mandatory: Bool
    /// Its confirm may be read late: only bookkeeping waits for it (a reply, the last thing its handling awaits), so
    /// a reader that defers delegated reads (`AMQPConnection.deferDelegatedReads(upTo:while:)`) need not wake for it.
    /// False, the default, for anything whose confirm something else waits on (an output sent before its reply).
    public var confirmMayWait: Bool

    public init(exchange: String, routingKey: String, body: [UInt8],
                properties: AMQPProperties = .transient, mandatory: Bool = false, confirmMayWait: Bool = false) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
        self.confirmMayWait = confirmMayWait
    }
}

/// What the broker said about a confirmed publish.
public enum PublishOutcome: Sendable, Equatable {
    /// Routed to at least one queue and accepted (for persistent messages on durable queues: on disk).
    case confirmed
    /// Mandatory and unroutable: the broker returned it (`basic.return`) before confirming.
    case returned(replyCode: UInt16, replyText: String)
}

/// Identifies a delivery on one connection epoch. A tag from an earlier epoch is never sent to
/// the broker: after a reconnect the broker has already requeued that delivery.
public struct DeliveryTag: Sendable, Hashable, CustomStringConvertible {
    public let epoch: UInt64
    public let value: UInt64
    /// Deliveries from a no-ack consumer cannot be acked.
    public let acknowledgeable: Bool

    /// Tags come from deliveries; this initialiser is for bookkeeping tests that need distinct values. Acking a
    /// made-up tag of the live epoch makes the broker close the channel.
    public init(epoch: UInt64, value: UInt64, acknowledgeable: Bool) {
        self.epoch = epoch
        self.value = value
        self.acknowledgeable = acknowledgeable
    }

    public var description: String { "\(epoch):\(value)" }
}

/// One message consumed from a queue.
public struct Delivery: Sendable {
    public let tag: DeliveryTag
    public let queue: String
    public let exchange: String
    public let routingKey: String
    public let redelivered: Bool
    public let properties: AMQPProperties
    /// The whole body — or, when the content header announced more than the consumer's
    /// ``ConsumerSpecification/maxBodyBytes``, only its first ``truncatedPrefixBytes``.
    public let body: [UInt8]
    /// The size the content header announced (equal to `body.count` unless truncated).
    public let announcedBodySize: Int

    /// How much of an oversize body is kept: enough to recognise it in a dead-letter copy.
    public static let truncatedPrefixBytes = 4096

    /// The body was over the consumer's limit and holds only its first bytes.
    public var isTruncated: Bool { body.count < announcedBodySize }
}
