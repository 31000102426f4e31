import AMQP
import BodyCompression
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// ZStack deflates message bodies when `CloudBus.compressNonApiMessage` is on and marks them with the AMQP header
/// `compressed`: such a request is inflated — with the size limit on the inflated bytes — and answered the same way.
@Suite("Compressed bodies", .enabled(if: TestBroker.available))
struct CompressedBodyTests {
    /// A raw reply inbox on `P2P`, so the test sees the reply's bytes and headers as the worker sent them.
    private static func withInbox<T>(_ body: (String, AMQPConnection, StreamCollector<Delivery>) async throws -> T)
        async throws -> T
    {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10)
        try await connection.start()
        return try await withTeardown({ await connection.close() }) {
            let inbox = "zstack.message.cloudbus.\(NodeUUID.random().rawValue)"
            try await connection.declare(Topology(
                exchanges: BusTopology.exchanges,
                queues: [QueueDeclaration(name: inbox, exclusive: true, autoDelete: true)],
                bindings: [QueueBinding(queue: inbox, exchange: BusNames.p2pExchange, routingKey: inbox)]))
            let replies = StreamCollector(try await connection.consume(ConsumerSpecification(queue: inbox, noAck: true)))
            return try await body(inbox, connection, replies)
        }
    }

    @Test("a deflated request is inflated, handled, and answered with a deflated reply marked compressed")
    func compressedRequest() async throws {
        try await withWorker { harness in
            try await Self.withInbox { inbox, connection, replies in
                let id = MessageID.random()
                let body = Array(#"{"cloudbus.worker.EchoMsg":{"payload":"deflated","id":"\#(id)","headers":{"correlationId":"\#(id)","replyTo":"\#(inbox)","noReply":"false"}}}"#.utf8)
                try await connection.publish(OutgoingMessage(
                    exchange: BusNames.p2pExchange, routingKey: harness.hostQueue, body: Zlib.deflate(body),
                    properties: AMQPProperties(deliveryMode: 1, headers: ["compressed": .string("true")]),
                    mandatory: true))
                let reply = try #require(await replies.next(within: .seconds(10)), "no reply")
                #expect(reply.properties.headers["compressed"] == .string("true"))
                let text = String(decoding: try Zlib.inflate(reply.body, limit: 1 << 20), as: UTF8.self)
                #expect(text.contains(EchoReply.className) && text.contains("deflated") && text.contains(id))
            }
        }
    }

    @Test("a small body that inflates past the limit is refused while inflating: its own dead-letter reason")
    func decompressionBomb() async throws {
        try await withWorker(maxBodyBytes: 64 * 1024) { harness in
            let bomb = Zlib.deflate([UInt8](repeating: 0x20, count: 16 << 20))
            let probe = try await DeadLetterProbe.open()
            let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10)
            try await connection.start()
            _ = try await withTeardown({ await connection.close() }) {
                try await connection.publish(OutgoingMessage(
                    exchange: BusNames.p2pExchange, routingKey: harness.hostQueue, body: bomb,
                    properties: AMQPProperties(deliveryMode: 1, headers: ["compressed": .string("true")]),
                    mandatory: true))
            }
            let letter = try await probe.find {
                $0.header("x-cbw-reason") == "decompression-bomb" && $0.header("x-cbw-queue") == harness.hostQueue
            }
            await probe.close()
            #expect(letter != nil, "the bomb was not dead-lettered with its reason")
            #expect(letter?.body.count == bomb.count, "the copy is the compressed original")
            let echo = try await harness.call(EchoMsg.className, ["payload": .string("still serving")])
            #expect(echo.success)
        }
    }
}
