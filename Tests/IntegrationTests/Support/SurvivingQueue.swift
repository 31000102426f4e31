import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Synchronization

/// A queue bound to `P2P` under one routing key that survives a connection cut: not exclusive (it expires 2 minutes
/// after its last consumer left), consumed with auto-ack by a connection that reconnects and re-subscribes by itself.
/// Keeps every body it received, in order — for tests that cut every connection and count what got through.
final class SurvivingQueue: Sendable {
    private let connection: AMQPConnection
    private let box = Box()
    private let pump: Task<Void, Never>

    private init(connection: AMQPConnection, stream: DeliveryStream) {
        self.connection = connection
        let box = self.box
        self.pump = Task {
            for await delivery in stream { box.append(String(decoding: delivery.body, as: UTF8.self)) }
        }
    }

    /// Every body received so far.
    var received: [String] { box.all }

    static func open(routingKey: String) async throws -> SurvivingQueue {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 100)
        try await connection.start()
        let name = "cloudbus.test.surviving.\(MessageID.random())"
        try await connection.declare(Topology(
            exchanges: BusTopology.exchanges,
            queues: [QueueDeclaration(name: name, arguments: ["x-expires": .int32(120_000)])],
            bindings: [QueueBinding(queue: name, exchange: BusNames.p2pExchange, routingKey: routingKey)]))
        let stream = try await connection.consume(ConsumerSpecification(queue: name, noAck: true))
        return SurvivingQueue(connection: connection, stream: stream)
    }

    func close() async {
        await connection.close()
        pump.cancel()
    }

    private final class Box: Sendable {
        private let bodies = Mutex<[String]>([])
        func append(_ body: String) { bodies.withLock { $0.append(body) } }
        var all: [String] { bodies.withLock { $0 } }
    }
}
