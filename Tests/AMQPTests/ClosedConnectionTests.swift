import AMQP
import CloudBusTesting
import Testing

/// After `close()` nothing waits on an owner thread that is gone: every call fails at once with `.closed`.
@Suite("AMQP connection after close")
struct ClosedConnectionTests {
    /// A broker address nothing is asked of: the connection below is never started.
    private static let unstarted = AMQPConfiguration()

    @Test("closed before it ever started: publish, declare and consume fail at once, start refuses")
    func closedBeforeStart() async throws {
        let connection = AMQPConnection(configuration: Self.unstarted)
        await connection.close()
        await connection.close()  // idempotent
        await #expect(throws: AMQPError.closed) {
            try await connection.publish(OutgoingMessage(exchange: "", routingKey: "nobody", body: [1]))
        }
        await #expect(throws: AMQPError.closed) { try await connection.declare(Topology()) }
        await #expect(throws: AMQPError.closed) {
            _ = try await connection.consume(ConsumerSpecification(queue: "nobody"))
        }
        await #expect(throws: AMQPError.closed) { try await connection.start() }
    }

    @Test("closed after serving: every later call fails at once and close() may be repeated",
          .enabled(if: TestBroker.available))
    func closedAfterServing() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await connection.start()
        let queue = TestBroker.uniqueName("test.closed")
        try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
        let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))
        await connection.close()
        await connection.close()
        await #expect(throws: AMQPError.closed) {
            try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: [1]))
        }
        await #expect(throws: AMQPError.closed) { try await connection.declare(Topology()) }
        await #expect(throws: AMQPError.closed) { try await connection.start() }
        await connection.stopConsuming()  // completes at once
        #expect(await deliveries.next(within: .milliseconds(200)) == nil, "the consumer stream ended with the close")
    }
}
