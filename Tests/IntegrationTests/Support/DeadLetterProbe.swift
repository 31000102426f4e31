import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Synchronization

/// Sees every dead letter published after it opened, and finds the copy a test expects, by message id or body.
///
/// The probe has a queue of its own (exclusive, auto-delete) bound to the dead-letter exchange, beside the shared
/// `cloudbus.worker.dead-letters`: the fanout gives each probe its own copy of every letter, so suites running side by
/// side cannot hide letters from each other (probes that took letters off the one shared queue had to hold the ones
/// that were not theirs and put them back, and a letter held by one was invisible to the others). A probe sees only
/// what was dead-lettered after ``open(configuration:)`` returned: open it before the action whose letter the test
/// expects.
final class DeadLetterProbe: Sendable {
    private let connection: AMQPConnection
    private let letters: Letters
    private let reader: Task<Void, Never>

    private init(connection: AMQPConnection, stream: DeliveryStream) {
        self.connection = connection
        let letters = Letters()
        self.letters = letters
        reader = Task { for await letter in stream { letters.append(letter) } }
    }

    /// On the test broker, or on `configuration` (a node of the test cluster).
    static func open(configuration: AMQPConfiguration? = nil) async throws -> DeadLetterProbe {
        let connection = AMQPConnection(configuration: try configuration ?? TestBroker.configuration())
        try await connection.start()
        do {
            let queue = "cloudbus.test.dead-letter-probe.\(UUID().uuidString)"
            try await connection.declare(Topology(
                exchanges: [ExchangeDeclaration(name: BusTopology.deadLetterExchange, kind: .fanout, durable: true)],
                queues: [QueueDeclaration(name: queue, exclusive: true, autoDelete: true)],
                bindings: [QueueBinding(queue: queue, exchange: BusTopology.deadLetterExchange, routingKey: "")]))
            let stream = try await connection.consume(ConsumerSpecification(queue: queue, noAck: true))
            return DeadLetterProbe(connection: connection, stream: stream)
        } catch {
            await connection.close()
            throw error
        }
    }

    /// The first letter matching `match` that no earlier `find` of this probe returned, waiting up to `limit` for it.
    func find(within limit: Duration = .seconds(10), where match: (Delivery) -> Bool) async throws -> Delivery? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let found = letters.take(where: match) { return found }
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func close() async {
        await connection.close()
        reader.cancel()
    }

    /// What arrived so far, in arrival order.
    private final class Letters: Sendable {
        private let received = Mutex<[Delivery]>([])

        func append(_ letter: Delivery) { received.withLock { $0.append(letter) } }

        func take(where match: (Delivery) -> Bool) -> Delivery? {
            received.withLock { letters in
                letters.firstIndex(where: match).map { letters.remove(at: $0) }
            }
        }
    }
}

extension Delivery {
    func header(_ name: String) -> String? { properties.headers[name]?.stringValue }
}
