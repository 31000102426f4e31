import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation

/// A queue that makes the broker refuse (basic.nack) every publish routed to it: `x-max-length 0` with
/// `x-overflow reject-publish`, bound to `P2P` under one routing key. Binding it under a worker's own queue name
/// makes exactly the publishes *to that worker* nacked while the connection stays up — what a queue going down
/// mid-routing does to a publisher, reproducibly and without touching anyone else's traffic.
///
/// The queue is exclusive: it disappears with ``close()`` (or with the test process).
final class RejectingQueue: Sendable {
    private let connection: AMQPConnection

    private init(connection: AMQPConnection) {
        self.connection = connection
    }

    /// Declares the queue and binds it to `P2P` with `routingKey` (e.g. `zstack.message.host.<node>`).
    static func bind(routingKey: String) async throws -> RejectingQueue {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10)
        try await connection.start()
        let queue = "cloudbus.test.reject.\(MessageID.random())"
        try await connection.declare(Topology(
            exchanges: BusTopology.exchanges,
            queues: [QueueDeclaration(name: queue, exclusive: true, autoDelete: true, arguments: [
                "x-max-length": .int64(0), "x-overflow": .string("reject-publish"),
            ])],
            bindings: [QueueBinding(queue: queue, exchange: BusNames.p2pExchange, routingKey: routingKey)]))
        return RejectingQueue(connection: connection)
    }

    func close() async {
        await connection.close()
    }
}
