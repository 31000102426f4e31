import AMQP
import CloudBusTesting
import Synchronization
import Testing

/// Several endpoints when none answers: loopback only, no broker needed.
@Suite("AMQP endpoints that refuse")
struct RefusedEndpointTests {
    @Test("every endpoint refusing: start() fails within a bound with one failure per endpoint, each named")
    func allEndpointsRefuse() async throws {
        let first = try await ClosedLoopbackPort.make(), second = try await ClosedLoopbackPort.make()
        var configuration = AMQPConfiguration(reconnectInitialDelay: .milliseconds(50))
        configuration.endpoints = [.init(host: "127.0.0.1", port: first.port), .init(host: "127.0.0.1", port: second.port)]
        let connection = AMQPConnection(configuration: configuration, logger: .quiet)
        let result = await start(connection, within: .seconds(60))
        guard case .failure(.allEndpointsFailed(let attempts)) = result else {
            Issue.record("expected allEndpointsFailed, got \(String(describing: result))")
            return
        }
        #expect(attempts.count == 2)
        guard case .connectFailed(_, let firstPort, _) = attempts.first, case .connectFailed(_, let secondPort, _) = attempts.last
        else {
            Issue.record("expected a connectFailed per endpoint: \(attempts)")
            return
        }
        #expect([firstPort, secondPort] == [first.port, second.port], "tried in order")
        let text = "\(AMQPError.allEndpointsFailed(attempts: attempts))"
        #expect(text.contains("127.0.0.1:\(first.port)") && text.contains("127.0.0.1:\(second.port)"), "\(text)")
        #expect(connection.statistics.endpoint == nil)
        #expect(!connection.statistics.connected)
    }

    @Test("one endpoint refusing: start() fails at once with that endpoint's own error, as before clusters")
    func singleEndpointRefuses() async throws {
        let closed = try await ClosedLoopbackPort.make()
        let connection = AMQPConnection(configuration: AMQPConfiguration(port: closed.port), logger: .quiet)
        let result = await start(connection, within: .seconds(60))
        guard case .failure(.connectFailed(let host, let port, _)) = result else {
            Issue.record("expected connectFailed, got \(String(describing: result))")
            return
        }
        #expect(host == "127.0.0.1")
        #expect(port == closed.port)
    }

    @Test("close() while the first connect waits between endpoints: start() fails with .closed, not hangs")
    func closeDuringFirstConnect() async throws {
        let first = try await ClosedLoopbackPort.make(), second = try await ClosedLoopbackPort.make()
        var configuration = AMQPConfiguration(reconnectInitialDelay: .seconds(60))
        configuration.endpoints = [.init(host: "127.0.0.1", port: first.port), .init(host: "127.0.0.1", port: second.port)]
        let connection = AMQPConnection(configuration: configuration, logger: .quiet)
        let outcome = Outcome()
        Task { await outcome.start(connection) }
        #expect(try await eventually(within: .seconds(60)) { connection.statistics.lastError != nil },
                "the first endpoint was tried")
        await connection.close()
        #expect(try await eventually(within: .seconds(60)) { outcome.value != nil })
        guard case .failure(.closed) = outcome.value else {
            Issue.record("expected .closed, got \(String(describing: outcome.value))")
            return
        }
    }
}

/// A first endpoint that is down, and connections cut under a consumer: each connection here is on its own proxy or
/// endpoint list, so nothing else on the shared broker is disturbed.
@Suite("AMQP failover between endpoints", .enabled(if: TestBroker.available), .serialized)
struct FailoverTests {
    @Test("a refused first endpoint: start() goes on to the broker, and the statistics name it")
    func refusedFirstEndpoint() async throws {
        var configuration = try TestBroker.configuration()
        let broker = configuration.endpoints[0]
        let closed = try await ClosedLoopbackPort.make()
        configuration.endpoints = [.init(host: "127.0.0.1", port: closed.port), broker]
        let connection = AMQPConnection(configuration: configuration, logger: .quiet)
        try await withTeardown({ await connection.close() }) {
            try #require(started(await start(connection, within: .seconds(20))))
            let statistics = connection.statistics
            #expect(statistics.endpoint == broker.description)
            #expect(statistics.connected)
            #expect(statistics.failovers == 0, "the first connection is no failover")
            let queue = TestBroker.uniqueName("test.failover-first")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            #expect(try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: [1])) == .confirmed)
        }
    }

    @Test("a first endpoint that accepts and never answers: start() gives up on it after connectTimeout, goes on")
    func silentFirstEndpoint() async throws {
        var configuration = try TestBroker.configuration()
        let broker = configuration.endpoints[0]
        configuration.connectTimeout = .seconds(1)
        try await withResource({ try await SilentLoopbackListener.start() }, stop: { await $0.close() }) { silent in
            configuration.endpoints = [.init(host: "127.0.0.1", port: silent.port), broker]
            let connection = AMQPConnection(configuration: configuration, logger: .quiet)
            try await withTeardown({ await connection.close() }) {
                try #require(started(await start(connection, within: .seconds(20))))
                #expect(silent.acceptedCount == 1)
                #expect(connection.statistics.endpoint == broker.description)
            }
        }
    }

    @Test("the node under a consumer dies: the connection moves to the next endpoint, and the consumer keeps receiving")
    func failoverOnLoss() async throws {
        var configuration = try TestBroker.configuration()
        let broker = configuration.endpoints[0]
        let proxy = try LoopbackProxy(forwardingTo: broker.port)
        configuration.endpoints = [proxy.endpoint, broker]
        let connection = AMQPConnection(configuration: configuration, logger: .quiet)
        try await withTeardown({ await connection.close(); proxy.close() }) {
            try await connection.start()
            #expect(connection.statistics.endpoint == proxy.endpoint.description)
            let queue = TestBroker.uniqueName("test.failover")
            // Not auto-delete: the queue must outlive the consumer's connection.
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, arguments: ["x-expires": .int32(60_000)])]))
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))
            try await roundTrip("before", queue: queue, on: connection, deliveries)

            proxy.dropConnections()
            #expect(try await eventually { connection.statistics.endpoint == broker.description },
                    "moved to the second endpoint: \(connection.statistics)")
            let statistics = connection.statistics
            #expect(statistics.failovers == 1)
            #expect(statistics.reconnects == 1)
            try await roundTrip("after", queue: queue, on: connection, deliveries)
        }
    }

    @Test("round-robin wraps: cut the first node, then the second, and the connection is back on the first")
    func roundRobinWraps() async throws {
        var configuration = try TestBroker.configuration()
        let broker = configuration.endpoints[0]
        let first = try LoopbackProxy(forwardingTo: broker.port), second = try LoopbackProxy(forwardingTo: broker.port)
        configuration.endpoints = [first.endpoint, second.endpoint]
        let connection = AMQPConnection(configuration: configuration, logger: .quiet)
        try await withTeardown({ await connection.close(); first.close(); second.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.failover-wrap")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, arguments: ["x-expires": .int32(60_000)])]))
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))

            first.dropConnections()
            #expect(try await eventually { connection.statistics.endpoint == second.endpoint.description })
            try await roundTrip("on the second", queue: queue, on: connection, deliveries)
            second.dropConnections()
            #expect(try await eventually { connection.statistics.endpoint == first.endpoint.description })
            try await roundTrip("back on the first", queue: queue, on: connection, deliveries)
            #expect(connection.statistics.failovers == 2)
            #expect(first.acceptedCount == 2 && second.acceptedCount == 1)
        }
    }

    @Test("one endpoint: a lost connection comes back on the same endpoint (no failover), unacked work redelivered")
    func singleEndpointReconnects() async throws {
        var configuration = try TestBroker.configuration()
        let proxy = try LoopbackProxy(forwardingTo: configuration.port)
        configuration.endpoints = [proxy.endpoint]
        let connection = AMQPConnection(configuration: configuration, logger: .quiet)
        try await withTeardown({ await connection.close(); proxy.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.reconnect-one")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, arguments: ["x-expires": .int32(60_000)])]))
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))
            try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: Array("unacked".utf8)))
            let unacked = try #require(await deliveries.next())

            proxy.dropConnections()
            let again = try #require(await deliveries.next(), "redelivered on the new connection")
            #expect(again.body == unacked.body && again.redelivered && again.tag.epoch > unacked.tag.epoch)
            connection.ack(unacked.tag)  // of the lost connection: dropped, not sent
            connection.ack(again.tag)
            try await roundTrip("after", queue: queue, on: connection, deliveries)
            let statistics = connection.statistics
            #expect(statistics.reconnects == 1)
            #expect(statistics.failovers == 0)
            #expect(statistics.staleAcksDropped == 1)
            #expect(statistics.endpoint == proxy.endpoint.description)
            #expect(proxy.acceptedCount == 2)
        }
    }

    /// Publishes `text` to `queue` (retrying while a reconnect is still under way) and waits for it on `deliveries`,
    /// acking what it reads; a redelivery of an earlier message is skipped.
    private func roundTrip(_ text: String, queue: String, on connection: AMQPConnection,
                           _ deliveries: StreamCollector<Delivery>) async throws {
        let body = Array(text.utf8)
        var outcome: PublishOutcome?
        for _ in 0..<50 where outcome == nil {
            do {
                outcome = try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: body))
            } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(outcome == .confirmed)
        while let delivery = await deliveries.next(within: .seconds(10)) {
            connection.ack(delivery.tag)
            if delivery.body == body { return }
        }
        Issue.record("\(text) was not received")
    }
}

/// Starts `connection` and waits at most `limit` for the outcome; nil when there was none by then (a hung start).
/// The start is not awaited past the bound: a hang fails the test instead of stalling the run.
private func start(_ connection: AMQPConnection, within limit: Duration) async -> Result<Void, AMQPError>? {
    let outcome = Outcome()
    Task { await outcome.start(connection) }
    _ = try? await eventually(within: limit) { outcome.value != nil }
    return outcome.value
}

private func started(_ result: Result<Void, AMQPError>?) -> Bool {
    if case .success = result { return true }
    if let result { Issue.record("start() failed: \(result)") } else { Issue.record("start() did not return in time") }
    return false
}

/// What a `start()` running in another task ended with, once it has.
private final class Outcome: Sendable {
    private let result = Mutex<Result<Void, AMQPError>?>(nil)
    var value: Result<Void, AMQPError>? { result.withLock { $0 } }

    func start(_ connection: AMQPConnection) async {
        let ended: Result<Void, AMQPError>
        do throws(AMQPError) {
            try await connection.start()
            ended = .success(())
        } catch {
            ended = .failure(error)
        }
        result.withLock { $0 = ended }
    }
}
