import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Synchronization

/// A queue that makes the broker refuse (basic.nack) every publish routed to it until the test opens it: bound to
/// `P2P` under one routing key, `x-max-length 1` with `x-overflow reject-publish`, and filled with one message at
/// the start. Only ready messages count toward the limit, so ``open()`` — which starts consuming and takes the filler
/// — lets the next publish in, and ``next(within:)`` returns what arrived after the filler.
///
/// With nothing else bound under the routing key, a refused message is lost to the publisher unless it publishes
/// again: the situation the outbox exists for. The queue is exclusive and disappears with ``close()``.
final class GatedQueue: Sendable {
    private let connection: AMQPConnection
    private let name: String
    private let deliveries = Mutex<StreamCollector<Delivery>?>(nil)

    private init(connection: AMQPConnection, name: String) {
        self.connection = connection
        self.name = name
    }

    static func closed(routingKey: String) async throws -> GatedQueue {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10)
        try await connection.start()
        let name = "cloudbus.test.gate.\(MessageID.random())"
        try await connection.declare(Topology(
            exchanges: BusTopology.exchanges,
            queues: [QueueDeclaration(name: name, exclusive: true, autoDelete: true, arguments: [
                "x-max-length": .int64(1), "x-overflow": .string("reject-publish"),
            ])]))
        // Filled before it is bound: once bound, any worker that has the routing key's node on its ring may send
        // there (a device-info sync for a VM another suite's event names), and a message that got in first would
        // make the broker refuse the filler itself.
        let filler = try await connection.publish(OutgoingMessage(
            exchange: "", routingKey: name, body: Array("filler".utf8), mandatory: true))
        guard filler == .confirmed else { throw GateError.fillerRefused }
        try await connection.declare(Topology(
            bindings: [QueueBinding(queue: name, exchange: BusNames.p2pExchange, routingKey: routingKey)]))
        return GatedQueue(connection: connection, name: name)
    }

    /// Starts consuming: the filler is taken (and acked), so the queue accepts the next publish.
    func open() async throws {
        let collector = StreamCollector(try await connection.consume(ConsumerSpecification(queue: name)))
        deliveries.withLock { $0 = collector }
        guard let filler = await collector.next(within: .seconds(10)) else { throw GateError.fillerMissing }
        connection.ack(filler.tag)
    }

    /// The next message that got through after ``open()``, acked, or nil.
    func next(within limit: Duration) async -> Delivery? {
        guard let collector = deliveries.withLock({ $0 }), let delivery = await collector.next(within: limit) else { return nil }
        connection.ack(delivery.tag)
        return delivery
    }

    /// The next message that got through and whose body contains `text`, skipping (and acking) others, or nil when
    /// none came within `limit`. The gate's routing key is another node's service queue, and every worker on the
    /// shared broker that puts that node on its ring may send there too: a `/vm/state/change` another suite
    /// broadcasts makes such a worker send a device-info sync for a VM it happens to own.
    func next(containing text: String, within limit: Duration) async -> Delivery? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            guard let delivery = await next(within: deadline - ContinuousClock.now) else { return nil }
            if String(decoding: delivery.body, as: UTF8.self).contains(text) { return delivery }
        }
        return nil
    }

    func close() async {
        await connection.close()
    }

    enum GateError: Error {
        case fillerRefused, fillerMissing
    }
}
