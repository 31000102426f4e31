import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Synchronization

/// Listens on `BROADCAST` like a management node's event queue and keeps every canonical event it sees, so a test
/// can assert on what the worker fired (and on what it did not fire). Its queue is exclusive and auto-delete.
final class EventProbe: Sendable {
    struct Seen: Sendable {
        var path: String
        var content: JSONValue
        var managementNodeId: String?
    }

    private let connection: AMQPConnection
    private let seen = Mutex<[Seen]>([])
    private let consumer = Mutex<Task<Void, Never>?>(nil)

    private init(connection: AMQPConnection) {
        self.connection = connection
    }

    private func consume(_ stream: DeliveryStream) {
        let task = Task { [connection] in
            for await delivery in stream {
                connection.ack(delivery.tag)
                guard let value = try? JSONValue(parsing: Data(delivery.body)),
                      let event = value[CanonicalEvent.className], let path = event["path"]?.stringValue else { continue }
                record(Seen(path: path, content: event["content"] ?? .null,
                            managementNodeId: event["managementNodeId"]?.stringValue))
            }
        }
        consumer.withLock { $0 = task }
    }

    private func record(_ event: Seen) { seen.withLock { $0.append(event) } }

    static func open() async throws -> EventProbe {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 1000)
        try await connection.start()
        let queue = "cloudbus.test.events.\(MessageID.random())"
        try await connection.declare(Topology(
            exchanges: BusTopology.exchanges,
            queues: [QueueDeclaration(name: queue, exclusive: true, autoDelete: true)],
            bindings: [QueueBinding(queue: queue, exchange: BusNames.broadcastExchange,
                                    routingKey: CanonicalEvent.routingKey)]))
        let stream = try await connection.consume(ConsumerSpecification(queue: queue))
        let probe = EventProbe(connection: connection)
        probe.consume(stream)
        return probe
    }

    /// Every event on `path` seen so far whose content matches.
    func events(_ path: String, where match: (JSONValue) -> Bool = { _ in true }) -> [Seen] {
        seen.withLock { $0.filter { $0.path == path && match($0.content) } }
    }

    /// Waits until an event on `path` matching `match` was seen, or `limit` passed.
    func waitFor(_ path: String, within limit: Duration = .seconds(10),
                 where match: (JSONValue) -> Bool = { _ in true }) async -> Seen? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let found = events(path, where: match).first { return found }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return events(path, where: match).first
    }

    func close() async {
        await connection.close()
        consumer.withLock { $0?.cancel() }
    }
}
