/// How a worker's own queues are declared (`queueType`, `deliveryLimit`, `durableQueues`).
///
/// Every worker on one broker must use the same kind: the dead-letter queue is shared, and RabbitMQ refuses to
/// redeclare a queue with another type (PRECONDITION_FAILED naming the queue).
public struct WorkerQueueOptions: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// One node holds the queue (today's behaviour; what ZStack itself declares).
        case classic
        /// A Raft group over the cluster's nodes: survives the loss of any minority; always durable.
        case quorum
    }

    public var kind: Kind
    /// Survive a broker restart (quorum queues always do).
    public var durable: Bool
    /// Quorum only: the broker dead-letters a message returned more often than this (`x-delivery-limit`), and the
    /// worker refuses one whose `x-delivery-count` has reached it.
    public var deliveryLimit: Int

    public init(kind: Kind = .classic, durable: Bool = true, deliveryLimit: Int = 5) {
        self.kind = kind
        self.durable = durable
        self.deliveryLimit = deliveryLimit
    }
}
