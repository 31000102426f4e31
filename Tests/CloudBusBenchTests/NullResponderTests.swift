@_spi(RawSession) import AMQP
import CloudBusBench
import CloudBusTesting
import Foundation
import Testing

@Suite("Null responder byte scan")
struct NullResponderScanTests {
    @Test("finds a string value with or without blanks around the colon")
    func findsValues() {
        let compact = Array(#"{"M":{"headers":{"replyTo":"zstack.message.cloudbus.abc","correlationId":"0123"}}}"#.utf8)
        #expect(NullResponder.scanStringValue(of: "replyTo", in: compact) == "zstack.message.cloudbus.abc")
        #expect(NullResponder.scanStringValue(of: "correlationId", in: compact) == "0123")
        let spaced = Array("{\"M\": {\"headers\": {\"replyTo\" :\n \"q.1\"}}}".utf8)
        #expect(NullResponder.scanStringValue(of: "replyTo", in: spaced) == "q.1")
    }

    @Test("absent keys, non-string values and keys quoted inside strings give nil")
    func rejects() {
        #expect(NullResponder.scanStringValue(of: "replyTo", in: Array(#"{"M":{"id":"x"}}"#.utf8)) == nil)
        #expect(NullResponder.scanStringValue(of: "replyTo", in: Array(#"{"M":{"replyTo":42}}"#.utf8)) == nil)
        #expect(NullResponder.scanStringValue(of: "replyTo", in: Array(#"{"M":{"payload":"\"replyTo\":\"evil\""}}"#.utf8)) == nil)
        #expect(NullResponder.scanStringValue(of: "replyTo", in: Array(#"{"M":{"replyTo":"unterminated"#.utf8)) == nil)
        #expect(NullResponder.scanStringValue(of: "replyTo", in: []) == nil)
    }
}

@Suite("Null responder on the real broker", .enabled(if: TestBroker.available), .serialized)
struct NullResponderBrokerTests {
    private static let exchange = "test.null.p2p"

    private func request(replyTo: String?, correlationId: String) -> [UInt8] {
        let replyPart = replyTo.map { #","replyTo":"\#($0)""# } ?? ""
        return Array(#"{"x.EchoMsg":{"payload":"p","headers":{"correlationId":"\#(correlationId)"\#(replyPart)}}}"#.utf8)
    }

    private func exercise(confirmReplies: Bool) async throws {
        let configuration = try TestBroker.configuration()
        let client = AMQPConnection(configuration: configuration)
        try await client.start()
        let inbox = TestBroker.uniqueName("test.null.inbox")
        try await client.declare(Topology(
            exchanges: [ExchangeDeclaration(name: Self.exchange, kind: .topic, autoDelete: true)],
            queues: [QueueDeclaration(name: inbox, autoDelete: true)],
            bindings: [QueueBinding(queue: inbox, exchange: Self.exchange, routingKey: inbox)]))
        let replies = StreamCollector(try await client.consume(ConsumerSpecification(queue: inbox, noAck: true)))
        let queue = TestBroker.uniqueName("test.null.requests")
        let responder = NullResponder(configuration: configuration, options: .init(
            queue: queue, exchange: Self.exchange, prefetch: 10, durableQueue: confirmReplies,
            confirmReplies: confirmReplies))
        try await responder.start()

        // One request without replyTo (acked, unanswered), then three with.
        try await client.publish(OutgoingMessage(exchange: Self.exchange, routingKey: queue,
                                                 body: request(replyTo: nil, correlationId: "none")))
        for id in ["a1", "b2", "c3"] {
            try await client.publish(OutgoingMessage(exchange: Self.exchange, routingKey: queue,
                                                     body: request(replyTo: inbox, correlationId: id)))
        }
        var seen: [String] = []
        for _ in 0..<3 {
            let reply = try #require(await replies.next())
            seen.append(try #require(NullResponder.scanStringValue(of: "correlationId", in: reply.body)))
            #expect(String(decoding: reply.body, as: UTF8.self).contains(#""success":true"#))
        }
        #expect(seen == ["a1", "b2", "c3"])
        #expect(await replies.next(within: .milliseconds(300)) == nil)
        #expect(responder.statistics.answered == 3)
        #expect(responder.statistics.unanswerable == 1)
        #expect(await responder.stop() == nil)
        #expect(responder.cpuTime > .zero)
        // All four deliveries were covered by the acks it sent (batched: fewer frames than deliveries is fine).
        #expect(responder.statistics.acknowledged == 4)
        #expect((1...4).contains(responder.statistics.ackFrames))

        if confirmReplies {
            // The durable queue outlives the responder: the broker took every ack, so nothing is left to deliver.
            let leftovers = StreamCollector(try await client.consume(ConsumerSpecification(queue: queue)))
            #expect(await leftovers.next(within: .milliseconds(300)) == nil)
        }
        await client.close()
        try RabbitSession.deleteQueues([queue], configuration: configuration)
    }

    @Test("answers each request at once with its correlationId and acks everything (transient)")
    func transient() async throws {
        try await exercise(confirmReplies: false)
    }

    @Test("with confirmed replies it still answers and acks everything (reliable)")
    func confirmed() async throws {
        try await exercise(confirmReplies: true)
    }

    @Test("a queue bound to a missing exchange fails start with the broker's reason")
    func missingExchange() async throws {
        let configuration = try TestBroker.configuration()
        let queue = TestBroker.uniqueName("test.null.orphan")
        let responder = NullResponder(configuration: configuration, options: .init(
            queue: queue, exchange: TestBroker.uniqueName("no.such.exchange")))
        await #expect(throws: AMQPError.self) { try await responder.start() }
        #expect(await responder.stop() != nil)
        // Declared before the bind failed, and auto-delete only applies once it had a consumer.
        try RabbitSession.deleteQueues([queue], configuration: configuration)
    }
}
