/// Work handed from Swift tasks to a connection's owner thread.
enum Command: Sendable {
    case publish(OutgoingMessage, completion: ConfirmTracker.Completion?)
    case ack(DeliveryTag)
    case nack(DeliveryTag, requeue: Bool)
    case declare(Topology, completion: @Sendable (Result<Void, AMQPError>) -> Void)
    case consume(ConsumerSpecification, Consumer, completion: @Sendable (Result<Void, AMQPError>) -> Void)
    case cancelConsumers(completion: @Sendable () -> Void)
    case close(completion: @Sendable () -> Void)
}

/// A subscription and the stream its deliveries go to. The stream outlives reconnects.
final class Consumer: Sendable {
    let specification: ConsumerSpecification
    let tag: String
    let continuation: AsyncStream<Delivery>.Continuation

    init(specification: ConsumerSpecification, tag: String, continuation: AsyncStream<Delivery>.Continuation) {
        self.specification = specification
        self.tag = tag
        self.continuation = continuation
    }
}
