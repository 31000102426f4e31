import Worker
@_spi(RawSession) import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import KVMMessages
import Logging
import Primitives
import Testing

/// What the broker gives up on from a worker's queues is not dropped: it reaches `cloudbus.worker.dead-letters`
/// through the worker's dead-letter exchange, with RabbitMQ's reason in `x-first-death-reason`.
@Suite("The broker's dead letters", .enabled(if: TestBroker.available))
struct BrokerDeadLetteringTests {
    @Test("a request that expires in a worker's queue leaves a copy with reason expired")
    func expiredRequestLeavesACopy() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await connection.start()
        let probe = try await DeadLetterProbe.open()
        do {
            // A worker's service queues as it declares them, with nobody consuming (the worker is down, or busy
            // elsewhere). Not its event queue, which nobody would delete.
            let node = NodeUUID.random()
            try await connection.declare(BusTopology.serviceQueues(
                node: node, services: [ServiceID.hostService], queues: WorkerQueueOptions(durable: false)))
            let id = MessageID.random()
            let body = try JSONValue.object([PingHostMsg.className: .object([
                "hostUuid": .string(MessageID.random()), "id": .string(id),
            ])]).jsonData()
            let queue = ServiceID(service: ServiceID.hostService, node: node).queueName
            let outcome = try await connection.publish(OutgoingMessage(
                exchange: BusNames.p2pExchange, routingKey: queue, body: [UInt8](body),
                properties: AMQPProperties(expiration: "50"), mandatory: true))
            #expect(outcome == .confirmed)
            let copy = try await probe.find(within: .seconds(15)) { delivery in
                String(decoding: delivery.body, as: UTF8.self).contains(id)
            }
            let found = try #require(copy, "the expired request left no copy in \(BusTopology.deadLetterQueue)")
            #expect(found.header("x-first-death-reason") == "expired")
            #expect(found.header("x-first-death-queue") == queue)
            #expect(found.body == [UInt8](body), "the copy is the request, byte for byte")
        } catch {
            await probe.close()
            await connection.close()
            throw error
        }
        await probe.close()
        await connection.close()
    }

    @Test("a worker's own copies reach the shared queue through the same exchange")
    func workerCopiesReachTheSharedQueue() async throws {
        try await withWorker { harness in
            let marker = MessageID.random()
            try await harness.sendRaw(Data(#"{"\#(EchoMsg.className)": {"payload": "\#(marker)""#.utf8))
            // The tests' only reader of the shared queue (the probes read copies of their own): it takes every letter
            // it reads, so the queue does not grow from run to run on a developer's broker.
            let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 1_000)
            try await connection.start()
            let copy = try await withTeardown({ await connection.close() }) {
                let letters = StreamCollector(
                    try await connection.consume(ConsumerSpecification(queue: BusTopology.deadLetterQueue)))
                while let letter = await letters.next(within: .seconds(10)) {
                    connection.ack(letter.tag)
                    if String(decoding: letter.body, as: UTF8.self).contains(marker) { return Optional(letter) }
                }
                return nil
            }
            let found = try #require(copy, "the refused message left no copy in \(BusTopology.deadLetterQueue)")
            #expect(found.header("x-cbw-reason") == "malformed-json")
            #expect(found.header("x-cbw-queue") == harness.hostQueue)
        }
    }
}

/// The shared dead-letter queue gone from under a running worker, each test in a vhost of its own. Run in the serial
/// phase (named Disruptive*), not because it disturbs other suites but because each vhost is made and removed with
/// `rabbitmqctl`, whose Erlang start takes a core for a second or two: beside the parallel phase's start-up it held up
/// the loopback-only connection tests past their bounds.
@Suite("The shared dead-letter queue deleted (broker control)", .enabled(if: TestBroker.controllable))
struct DisruptiveDeadLetterQueueTests {
    /// Runs `body` with a worker in a vhost of its own, whose shared dead-letter queue has been deleted since the
    /// worker declared it (which the suites beside this one must not see), a connection to that vhost, and the
    /// vhost's configuration.
    private func withWorkerWithoutSharedQueue(
        logCapture: LogCapture? = nil,
        _ body: (WorkerHarness, AMQPConnection, AMQPConfiguration) async throws -> Void
    ) async throws {
        let vhost = TestBroker.uniqueName("cbw-dead-letters")
        try await onDedicatedThread { try TestBroker.control("add-vhost", vhost) }
        var configuration = try TestBroker.configuration()
        configuration.virtualHost = vhost
        let amqp = configuration
        try await withTeardown({ _ = try? await onDedicatedThread { try TestBroker.control("delete-vhost", vhost) } }) {
            try await withWorker(logCapture: logCapture, configure: {
                $0.amqp.virtualHost = vhost
                $0.publishFailureBackoff = .milliseconds(100)
            }) { harness in
                try await onDedicatedThread {
                    try RabbitSession.deleteQueues([BusTopology.deadLetterQueue], configuration: amqp)
                }
                let connection = AMQPConnection(configuration: amqp)
                try await connection.start()
                try await withTeardown({ await connection.close() }) { try await body(harness, connection, amqp) }
            }
        }
    }

    /// A malformed request (refused as `malformed-json`) carrying `marker`, published to the worker's host queue.
    private func sendMalformed(_ marker: String, to harness: WorkerHarness, on connection: AMQPConnection) async throws
    {
        let outcome = try await connection.publish(OutgoingMessage(
            exchange: BusNames.p2pExchange, routingKey: harness.hostQueue,
            body: Array(#"{"\#(EchoMsg.className)": {"payload": "\#(marker)""#.utf8),
            properties: AMQPProperties(deliveryMode: 1), mandatory: true))
        #expect(outcome == .confirmed)
    }

    /// The first letter in the shared queue whose body holds `marker`, within 10 s (taking every letter it reads).
    /// The queue may not exist yet (the worker declares it again): each try has a connection of its own, since a
    /// consume of a missing queue closes the channel.
    private func sharedQueueLetter(_ marker: String, on amqp: AMQPConfiguration) async throws -> Delivery? {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let connection = AMQPConnection(configuration: amqp)
            try await connection.start()
            let found: Delivery?? = try await withTeardown({ await connection.close() }) {
                guard let stream = try? await connection.consume(
                    ConsumerSpecification(queue: BusTopology.deadLetterQueue, noAck: true))
                else { return nil }  // not declared yet: try again
                let letters = StreamCollector(stream)
                while let letter = await letters.next(within: deadline - ContinuousClock.now) {
                    if String(decoding: letter.body, as: UTF8.self).contains(marker) { return .some(letter) }
                }
                return .some(nil)
            }
            if let found { return found }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @Test("a deleted shared queue is declared again by the next refusal, whose copy lands in it",
          .enabled(if: TestBroker.controllable))
    func deletedSharedQueueIsDeclaredAgain() async throws {
        try await withWorkerWithoutSharedQueue { harness, connection, amqp in
            let marker = MessageID.random()
            try await sendMalformed(marker, to: harness, on: connection)
            let copy = try #require(try await sharedQueueLetter(marker, on: amqp),
                                    "the copy was not in the shared queue declared again")
            #expect(copy.header("x-cbw-reason") == "malformed-json")
            // Done at the first attempt: refused once, nothing given back.
            // Counted once the copy is confirmed, which can come after the probe sees it.
            #expect(try await eventually { harness.metrics[WorkerCounter.deadLettered("malformed-json")] == 1 })
            #expect(harness.metrics[WorkerCounter.publishFailures] == 0)
        }
    }

    @Test("a copy that still has no queue is not a refusal done: the message is tried again until its copy has one",
          .enabled(if: TestBroker.controllable))
    func unroutableCopyKeepsTheMessage() async throws {
        let log = LogCapture()
        try await withWorkerWithoutSharedQueue(logCapture: log) { harness, connection, amqp in
            // The shared queue replaced by one the worker cannot declare again (other arguments) and not bound to
            // the exchange: the copy comes back, and so does the worker's declaration.
            try await connection.declare(Topology(queues: [QueueDeclaration(
                name: BusTopology.deadLetterQueue, durable: true, arguments: ["x-max-length": .int64(1_000)])]))
            let marker = MessageID.random()
            try await sendMalformed(marker, to: harness, on: connection)
            // Refused, its copy returned, the declaration refused, given back, refused again.
            #expect(try await eventually(within: .seconds(20)) {
                harness.metrics[WorkerCounter.publishFailures] >= 2
            }, "a returned copy did not fail the refusal, or the message was not tried again")
            // Bound: the next attempt leaves its copy there. The message was kept meanwhile.
            try await connection.declare(Topology(bindings: [QueueBinding(
                queue: BusTopology.deadLetterQueue, exchange: BusTopology.deadLetterExchange, routingKey: "")]))
            let copy = try #require(try await sharedQueueLetter(marker, on: amqp),
                                    "the message was lost while its copy had no queue")
            #expect(copy.header("x-cbw-reason") == "malformed-json")
            // Each failed attempt is logged with what an operator needs to find the message: where it came from,
            // why it was refused and what went wrong (its id and class are "-": a malformed body has neither).
            let failures = log.logged.filter { $0.message.hasPrefix("could not dead-letter or answer") }
            #expect(failures.count >= 2)
            for failure in failures {
                #expect(failure.level == .warning)
                #expect(failure.metadata["queue"] == harness.hostQueue)
                #expect(failure.metadata["reason"] == "malformed-json")
                #expect(failure.metadata["msg.id"] == "-" && failure.metadata["msg.class"] == "-")
                #expect(failure.metadata["error"]?.isEmpty == false)
            }
        }
    }
}

@Suite("Broker connections on /metrics", .enabled(if: TestBroker.available))
struct BrokerConnectionMetricsTests {
    @Test("both connections say they are connected and to which node, with reconnects and failovers")
    func connectionSeries() async throws {
        try await withWorker { harness in
            let broker = try TestBroker.configuration().endpoints[0].description
            let text = harness.metrics.exposition()
            for connection in ["consume", "publish"] {
                #expect(text.contains(#"cloudbus_worker_amqp_connected{connection="\#(connection)",endpoint="\#(broker)"} 1.0"#))
                #expect(text.contains(#"cloudbus_worker_amqp_blocked{connection="\#(connection)"} 0.0"#))
                #expect(text.contains(#"cloudbus_worker_amqp_reconnects_total{connection="\#(connection)"} 0"#))
                #expect(text.contains(#"cloudbus_worker_amqp_failovers_total{connection="\#(connection)"} 0"#))
            }
            #expect(text.contains("# HELP cloudbus_worker_amqp_connected "))
            #expect(text.contains("# TYPE cloudbus_worker_amqp_connected gauge"))
        }
    }
}
