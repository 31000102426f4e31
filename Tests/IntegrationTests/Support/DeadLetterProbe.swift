import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation

/// Reads the dead-letter queue and finds the copy a test expects, by message id or body.
/// Copies that belong to other tests are requeued untouched — only once the search ends: requeued at once they would
/// come back first, and a queue holding more copies than the prefetch would never show its tail.
struct DeadLetterProbe {
    let connection: AMQPConnection

    /// On the test broker (classic dead-letter queue), or on `configuration` (the cluster: quorum).
    static func open(configuration: AMQPConfiguration? = nil, quorum: Bool = false) async throws -> DeadLetterProbe {
        let connection = AMQPConnection(configuration: try configuration ?? TestBroker.configuration(), prefetch: 60_000)
        try await connection.start()
        try await connection.declare(Topology(queues: [QueueDeclaration(
            name: BusTopology.deadLetterQueue, durable: true,
            arguments: quorum ? ["x-queue-type": .string("quorum")] : [:])]))
        return DeadLetterProbe(connection: connection)
    }

    /// The first dead letter matching `match`, within `limit`.
    func find(within limit: Duration = .seconds(10), where match: @Sendable @escaping (Delivery) -> Bool) async throws -> Delivery? {
        let stream = try await connection.consume(ConsumerSpecification(queue: BusTopology.deadLetterQueue))
        let found = await withTaskGroup(of: Delivery?.self) { group in
            group.addTask {
                var others: [DeliveryTag] = []
                defer { for tag in others { connection.nack(tag, requeue: true) } }
                for await delivery in stream {
                    if match(delivery) {
                        connection.ack(delivery.tag)
                        return delivery
                    }
                    others.append(delivery.tag)
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        await connection.stopConsuming()
        return found
    }

    func close() async { await connection.close() }
}

extension Delivery {
    func header(_ name: String) -> String? { properties.headers[name]?.stringValue }
}
