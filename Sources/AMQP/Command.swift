/// Work handed from Swift tasks to a connection's owner thread.
enum Command: Sendable {
    case publish(OutgoingMessage, completion: PublishCompletion?)
    case ack(DeliveryTag)
    case nack(DeliveryTag, requeue: Bool)
    case declare(Topology, completion: @Sendable (Result<Void, AMQPError>) -> Void)
    case consume(ConsumerSpecification, Consumer, completion: @Sendable (Result<Void, AMQPError>) -> Void)
    case cancelConsumers(completion: @Sendable () -> Void)
    case close(completion: @Sendable () -> Void)
}

extension Command {
    /// Completes the command with `error` without running it (the connection is closed, or a command cannot be
    /// carried out in its state). Acks and nacks have nothing to complete.
    func reject(_ error: AMQPError) {
        switch self {
        case .publish(_, let completion): completion?(.failure(error))
        case .declare(_, let completion): completion(.failure(error))
        case .consume(_, let consumer, let completion):
            consumer.deliveries.finish()
            completion(.failure(error))
        case .cancelConsumers(let completion): completion()
        case .close(let completion): completion()
        case .ack, .nack: break
        }
    }
}

/// A subscription and the stream its deliveries go to. The stream outlives reconnects.
final class Consumer: Sendable {
    let specification: ConsumerSpecification
    let tag: String
    let deliveries: DeliveryStream

    init(specification: ConsumerSpecification, tag: String, deliveries: DeliveryStream) {
        self.specification = specification
        self.tag = tag
        self.deliveries = deliveries
    }
}
