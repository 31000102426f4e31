import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Synchronization

/// Reads the dead-letter queue and finds the copy a test expects, by message id or body.
/// Copies that belong to other tests are requeued untouched, every quarter second rather than at once: requeued at
/// once they come back first and a long queue never shows its tail, held to the end they hide from the probes of the
/// tests running beside this one.
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
        let held = HeldTags()
        let connection = connection
        @Sendable func release() {
            for tag in held.tags.withLock({ tags in defer { tags.removeAll() }; return tags }) {
                connection.nack(tag, requeue: true)
            }
        }
        let found = await withTaskGroup(of: Delivery?.self) { group in
            group.addTask {
                for await delivery in stream {
                    if match(delivery) {
                        connection.ack(delivery.tag)
                        return delivery
                    }
                    held.tags.withLock { $0.append(delivery.tag) }
                }
                return nil
            }
            group.addTask {
                // The prefetch (60,000) lets the broker send the whole queue within the first period.
                let deadline = ContinuousClock.now + limit
                while ContinuousClock.now < deadline, !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    release()
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        release()
        await connection.stopConsuming()
        release()
        return found
    }

    func close() async { await connection.close() }

    /// Deliveries of other tests' copies, until the next release.
    private final class HeldTags: Sendable {
        let tags = Mutex<[DeliveryTag]>([])
    }
}

extension Delivery {
    func header(_ name: String) -> String? { properties.headers[name]?.stringValue }
}
