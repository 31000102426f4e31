import AMQP
import CloudBusTesting
import Foundation
import Testing

@Suite("AMQP connection on the real broker", .enabled(if: TestBroker.available), .serialized)
struct ConnectionTests {
    @Test("a confirmed publish reaches a manual-ack consumer with body and properties intact")
    func publishConsumeRoundTrip() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10)
        try await connection.start()
        let queue = TestBroker.uniqueName("test.roundtrip")
        try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
        let deliveries = try await connection.consume(ConsumerSpecification(queue: queue))
        let iterator = StreamCollector(deliveries)
        let body = Array("{\"hello\":\"world\"}".utf8)
        let outcome = try await connection.publish(OutgoingMessage(
            exchange: "", routingKey: queue, body: body,
            properties: AMQPProperties(deliveryMode: 2, expiration: "60000",
                                       headers: ["reason": .string("test"), "count": .int32(3)]),
            mandatory: true))
        #expect(outcome == .confirmed)
        let delivery = try #require(await iterator.next())
        #expect(delivery.body == body)
        #expect(delivery.properties.deliveryMode == 2)
        #expect(delivery.properties.expiration == "60000")
        #expect(delivery.properties.headers["reason"] == .string("test"))
        #expect(delivery.properties.headers["count"] == .int32(3))
        #expect(delivery.redelivered == false)
        connection.ack(delivery.tag)
        await connection.close()
    }

    @Test("properties and headers of every kind, small and past the publish arena's block, arrive intact")
    func headersRoundTripThroughTheArena() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await withTeardown({ await connection.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.arena")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))
            let large = String(repeating: "z", count: 20_000)  // larger than the arena's 8 KiB block
            let headers: AMQPTable = [
                "text": .string("täxt"), "empty": .string(""), "bytes": .bytes([0, 1, 2, 255]), "flag": .bool(true),
                "small": .int32(-7), "big": .int64(1 << 40), "ratio": .double(0.25),
                "nested": .table(["inner": .string("deep"), "list": .array([.int32(1), .string("two"), .void])]),
                "large": .string(large),
            ]
            for round in 0..<3 {  // the block is reused from one publish to the next
                let id = "id-\(round)-" + String(repeating: "i", count: round * 100)  // a shortstr: ≤ 255 bytes
                try await connection.publish(OutgoingMessage(
                    exchange: "", routingKey: queue, body: Array("round \(round)".utf8),
                    properties: AMQPProperties(messageID: id, correlationID: "c\(round)", replyTo: "inbox-\(round)",
                                               headers: headers)))
                let delivery = try #require(await deliveries.next())
                #expect(delivery.body == Array("round \(round)".utf8))
                #expect(delivery.properties.messageID == id)
                #expect(delivery.properties.correlationID == "c\(round)")
                #expect(delivery.properties.replyTo == "inbox-\(round)")
                #expect(delivery.properties.headers == headers)
                connection.ack(delivery.tag)
            }
        }
    }

    @Test("publishes the publishing thread writes itself, the owner thread asleep, keep their order and are confirmed")
    func borrowedPublishesKeepOrder() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await withTeardown({ await connection.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.borrowed")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue, noAck: true)))
            func message(_ number: Int) -> OutgoingMessage {
                OutgoingMessage(exchange: "", routingKey: queue, body: Array("\(number)".utf8))
            }
            // One at a time: between two of them the owner thread goes back to sleep, so the publishing task's own
            // thread writes most of them.
            for number in 0..<200 { #expect(try await connection.publish(message(number)) == .confirmed) }
            // Back to back, while the owner thread reads the deliveries: some are written by this task's thread, some
            // left to the owner thread (it was awake); one order all the same.
            for number in 200..<1_200 { connection.publishWithoutConfirm(message(number)) }
            for number in 0..<1_200 {
                let delivery = try #require(await deliveries.next())
                #expect(String(decoding: delivery.body, as: UTF8.self) == "\(number)")
            }
            #expect(connection.statistics.borrowedPublishes > 0)
        }
    }

    @Test("a connection whose reads are delegated: confirms and returns come through the reader's thread, and through its own once the reader is gone")
    func delegatedReadsCarryConfirmsAndReturns() async throws {
        try await withDelegatingPublisher(queue: "test.delegated") { reader, publisher, queue in
            let deliveries = StreamCollector(try await reader.consume(ConsumerSpecification(queue: queue, noAck: true)))
            func message(_ number: Int, to routingKey: String? = nil) -> OutgoingMessage {
                OutgoingMessage(exchange: "", routingKey: routingKey ?? queue, body: Array("\(number)".utf8),
                                mandatory: true)
            }
            // From a task on the reader's thread, as the worker's replies are: the publisher's thread sleeps between
            // publishes, so the reader's poll sees the confirms and reads them.
            let outcomes = await Task(executorPreference: reader.taskExecutor) {
                var outcomes: [PublishOutcome?] = []
                for number in 0..<300 { outcomes.append(try? await publisher.publish(message(number))) }
                // Unroutable: `basic.return` and its content frames, then the confirm, all read by the reader.
                outcomes.append(try? await publisher.publish(message(300, to: TestBroker.uniqueName("test.nowhere"))))
                return outcomes
            }.value
            #expect(outcomes.prefix(300).allSatisfy { $0 == .confirmed })
            guard case .returned? = outcomes.last ?? nil else {
                Issue.record("an unroutable mandatory publish was not returned: \(String(describing: outcomes.last))")
                return
            }
            for number in 0..<300 {
                let delivery = try #require(await deliveries.next())
                #expect(String(decoding: delivery.body, as: UTF8.self) == "\(number)")
            }
            let delegated = publisher.statistics.delegatedReadPasses
            #expect(delegated > 0, "no confirm was read by the reader's thread")
            #expect(reader.statistics.delegatedReadPasses == 0)

            // The reader closes (its consumer gone, the auto-delete queue goes too: not mandatory now): the publisher
            // reads its own confirms again, and none waits for the reader.
            await reader.close()
            for number in 0..<50 {
                let unrouted = OutgoingMessage(exchange: "", routingKey: queue, body: Array("\(number)".utf8))
                #expect(try await publisher.publish(unrouted) == .confirmed)
            }
            #expect(publisher.statistics.delegatedReadPasses == delegated)
        }
    }

    @Test("a consumer's body limit: an oversize body arrives as its first 4 KiB with the announced size; the rest whole")
    func oversizeBodyIsTruncatedFromTheHeader() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await withTeardown({ await connection.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.limit")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue, maxBodyBytes: 10_000)))
            let big = (0..<1_000_000).map { UInt8($0 % 253) }, small = Array(repeating: UInt8(7), count: 10_000)
            for body in [big, small] {
                #expect(try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: body)) == .confirmed)
            }
            let first = try #require(await deliveries.next())
            #expect(first.isTruncated)
            #expect(first.announcedBodySize == big.count)
            #expect(first.body == Array(big.prefix(Delivery.truncatedPrefixBytes)))
            let second = try #require(await deliveries.next())
            #expect(!second.isTruncated, "a body of exactly the limit is whole")
            #expect(second.body == small)
            connection.ack(first.tag)
            connection.ack(second.tag)
        }
    }

    @Test("a mandatory publish nobody can route comes back as returned, not confirmed")
    func mandatoryUnroutableIsReturned() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await connection.start()
        let outcome = try await connection.publish(OutgoingMessage(
            exchange: "", routingKey: TestBroker.uniqueName("nobody.listens"), body: [1, 2, 3], mandatory: true))
        guard case .returned(let code, let text) = outcome else {
            Issue.record("expected a return, got \(outcome)")
            return
        }
        #expect(code == 312)
        #expect(text == "NO_ROUTE")
        #expect(connection.statistics.returnedMessages == 1)
        // The next routable publish is still confirmed normally.
        let queue = TestBroker.uniqueName("test.after-return")
        try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, arguments: ["x-expires": .int32(60_000)])]))
        #expect(try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: [9], mandatory: true)) == .confirmed)
        await connection.close()
    }

    @Test("an unacked delivery is redelivered after the consumer's connection closes")
    func unackedIsRedelivered() async throws {
        let queue = TestBroker.uniqueName("test.redeliver")
        let first = AMQPConnection(configuration: try TestBroker.configuration())
        try await first.start()
        try await first.declare(Topology(queues: [QueueDeclaration(name: queue, arguments: ["x-expires": .int32(60_000)])]))
        try await first.publish(OutgoingMessage(exchange: "", routingKey: queue, body: Array("once".utf8)))
        let firstIterator = StreamCollector(try await first.consume(ConsumerSpecification(queue: queue)))
        let unacked = try #require(await firstIterator.next())
        #expect(unacked.redelivered == false)
        await first.close()

        let second = AMQPConnection(configuration: try TestBroker.configuration())
        try await second.start()
        let secondIterator = StreamCollector(try await second.consume(ConsumerSpecification(queue: queue)))
        let again = try #require(await secondIterator.next())
        #expect(again.body == Array("once".utf8))
        #expect(again.redelivered == true)
        second.ack(again.tag)
        try await second.declare(Topology()) // a round trip: the ack above has been sent before it
        await second.close()
    }

    @Test("many acks in a row are all taken by the broker (batched multiple-acks)")
    func batchedAcksEmptyTheQueue() async throws {
        let queue = TestBroker.uniqueName("test.batch")
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 200)
        try await connection.start()
        try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, arguments: ["x-expires": .int32(60_000)])]))
        let count = 500
        try await withThrowingTaskGroup(of: PublishOutcome.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: Array("\(index)".utf8)))
                }
            }
            for try await outcome in group { #expect(outcome == .confirmed) }
        }
        let iterator = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))
        var seen: [Int] = []
        while seen.count < count, let delivery = await iterator.next() {
            seen.append(Int(String(decoding: delivery.body, as: UTF8.self))!)
            connection.ack(delivery.tag)
        }
        #expect(seen.count == count)
        #expect(Set(seen).count == count)
        await connection.close()
        // Nothing left unacked: a fresh consumer sees no redelivery.
        let check = AMQPConnection(configuration: try TestBroker.configuration())
        try await check.start()
        let probe = try await check.publish(OutgoingMessage(exchange: "", routingKey: queue, body: Array("probe".utf8)))
        #expect(probe == .confirmed)
        let checkIterator = StreamCollector(try await check.consume(ConsumerSpecification(queue: queue)))
        let next = try #require(await checkIterator.next())
        #expect(String(decoding: next.body, as: UTF8.self) == "probe")
        await check.close()
    }

    @Test("heartbeats keep an idle connection alive past several broker heartbeat timeouts")
    func heartbeatsWhileIdle() async throws {
        var configuration = try TestBroker.configuration()
        configuration.heartbeat = .seconds(1)
        let connection = AMQPConnection(configuration: configuration)
        try await connection.start()
        let epoch = connection.statistics.epoch
        // The broker closes a connection that misses two heartbeats (2 s here); stay idle for 5 s.
        try await Task.sleep(for: .seconds(5))
        let queue = TestBroker.uniqueName("test.heartbeat")
        try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
        #expect(try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: [1])) == .confirmed)
        #expect(connection.statistics.epoch == epoch)
        #expect(connection.statistics.reconnects == 0)
        await connection.close()
    }

    @Test("a refused login fails start() with a typed error naming the user")
    func badCredentials() async throws {
        var configuration = try TestBroker.configuration()
        configuration.password = "definitely-wrong"
        let connection = AMQPConnection(configuration: configuration)
        do {
            try await connection.start()
            Issue.record("login with a wrong password succeeded")
        } catch {
            guard case .connectFailed(_, _, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(reason.contains("guest"))
            #expect(!reason.contains("definitely-wrong"))
        }
    }
}

/// Closes every connection on the broker: run alone (scripts/run-tests.sh), never beside other broker tests.
@Suite("AMQP reconnect (disruptive)", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveConnectionTests {
    @Test("a broker that stops reading never holds a publisher in a write: what the socket cannot take waits for the owner thread",
          .enabled(if: TestBroker.controllable))
    func publisherNeverWaitsInAWrite() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await withTeardown({ await connection.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.full-socket")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            // 32 MB: more than the socket buffers on both sides of a loopback connection can hold, so with the
            // alarm up the broker's reader stops and the socket fills. Each body is larger than the room a borrowed
            // pass allows itself (a quarter of the send buffer, at most 1 MB under the default 4 MB ceiling), so
            // the first pass already defers instead of racing the owner thread to the full socket.
            let count = 8, body = [UInt8](repeating: 7, count: 4 * 1024 * 1024)
            try TestBroker.control("memory-alarm", "on")
            try await withTeardown({ try? TestBroker.control("memory-alarm", "off") }) {
                // On a thread of its own: a publisher stuck in a write would block it, and the bound below fails
                // the test instead of hanging with it.
                let (done, finished) = AsyncStream.makeStream(of: Int.self)
                let publisher = Thread {
                    for _ in 0..<count {
                        connection.publishWithoutConfirm(OutgoingMessage(exchange: "", routingKey: queue, body: body))
                    }
                    finished.yield(count)
                    finished.finish()
                }
                publisher.start()
                #expect(await StreamCollector(done).next() == count, "a publish call waited for the blocked broker")
                #expect(connection.statistics.sendBufferDeferrals > 0)
            }
            // Alarm cleared: the owner thread writes the rest, and every message arrives.
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue, noAck: true)))
            for _ in 0..<count {
                let delivery = try #require(await deliveries.next(within: .seconds(60)))
                #expect(delivery.body.count == body.count)
            }
        }
    }

    @Test("a broker that stops reading a delegating publisher never holds its reader's thread",
          .enabled(if: TestBroker.controllable))
    func delegatedReadsNeverHoldTheReader() async throws {
        try await withDelegatingPublisher(queue: "test.delegated-full") { reader, publisher, queue in
            // As above: 32 MB the broker's reader stops taking once the alarm is up, so the publisher's socket fills
            // and its thread waits in a write; meanwhile the broker's `connection.blocked` makes that socket readable.
            let count = 8, body = [UInt8](repeating: 7, count: 4 * 1024 * 1024)
            try TestBroker.control("memory-alarm", "on")
            try await withTeardown({ try? TestBroker.control("memory-alarm", "off") }) {
                for _ in 0..<count {
                    publisher.publishWithoutConfirm(OutgoingMessage(exchange: "", routingKey: queue, body: body))
                }
                // The reader's thread keeps running its jobs the whole time: had it taken the publisher's reading into
                // a write that waits for the broker, these would not run.
                for round in 0..<20 {
                    let (ran, done) = AsyncStream.makeStream(of: Int.self)
                    Task(executorPreference: reader.taskExecutor) { done.yield(round); done.finish() }
                    #expect(await StreamCollector(ran).next(within: .seconds(10)) == round,
                            "the reader's thread stopped running jobs while the publisher was blocked")
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let deliveries = StreamCollector(try await reader.consume(ConsumerSpecification(queue: queue, noAck: true)))
            for _ in 0..<count {
                let delivery = try #require(await deliveries.next(within: .seconds(60)))
                #expect(delivery.body.count == body.count)
            }
            // After the alarm the publisher's confirms flow through the reader again.
            let before = publisher.statistics.delegatedReadPasses
            for number in 0..<20 {
                #expect(try await publisher.publish(OutgoingMessage(exchange: "", routingKey: queue,
                                                                    body: Array("\(number)".utf8))) == .confirmed)
            }
            #expect(publisher.statistics.delegatedReadPasses > before)
        }
    }

    @Test("after the broker drops the connection: reconnect, re-declare, re-subscribe, stale tags dropped")
    func reconnectsAndDropsStaleTags() async throws {
        // Not auto-delete: an auto-delete queue dies with its last consumer, taking unacked messages along.
        let queue = TestBroker.uniqueName("test.reconnect")
        let connection = AMQPConnection(configuration: try TestBroker.configuration())
        try await connection.start()
        try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, arguments: ["x-expires": .int32(60_000)])]))
        let iterator = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: Array("before".utf8)))
        let before = try #require(await iterator.next())
        let epochBefore = connection.statistics.epoch

        try TestBroker.control("close-connections")
        // The unacked "before" comes back on the new epoch, redelivered.
        let again = try #require(await iterator.next())
        #expect(again.body == Array("before".utf8))
        #expect(again.redelivered)
        #expect(again.tag.epoch > epochBefore)
        connection.ack(before.tag) // stale: must be dropped, not sent (it would close the channel)
        connection.ack(again.tag)
        // The consumer was re-subscribed on the new connection.
        var published = false
        for _ in 0..<50 where !published {
            do {
                try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: Array("after".utf8), mandatory: true))
                published = true
            } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(published)
        let after = try #require(await iterator.next())
        #expect(after.body == Array("after".utf8))
        connection.ack(after.tag)
        let statistics = connection.statistics
        #expect(statistics.reconnects >= 1)
        #expect(statistics.staleAcksDropped >= 1)
        await connection.close()
    }
}

/// A reader and a publisher whose reads it does (`delegateReads(to:)`), both started, and an auto-delete queue named
/// after `queue` declared; both closed on every exit path.
func withDelegatingPublisher(
    queue prefix: String, _ body: (AMQPConnection, AMQPConnection, String) async throws -> Void
) async throws {
    let configuration = try TestBroker.configuration()
    let reader = AMQPConnection(configuration: configuration)
    let publisher = AMQPConnection(configuration: configuration)
    publisher.delegateReads(to: reader)
    try await withTeardown({ await publisher.close(); await reader.close() }) {
        try await reader.start()
        try await publisher.start()
        let queue = TestBroker.uniqueName(prefix)
        try await publisher.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
        try await body(reader, publisher, queue)
    }
}
