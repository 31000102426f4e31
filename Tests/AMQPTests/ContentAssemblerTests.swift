@testable import AMQP
import CRabbitMQ
import CRabbitMQShim
import Testing

/// The assembler on hand-made frames: what the broker interleaves (contents on two channels), splits (a body over
/// several frames) and what a confused peer sends (a body with no header, a header with no method).
@Suite("Content assembly from frames")
struct ContentAssemblerTests {
    static func deliver(_ tag: UInt64) -> ContentAssembler.Origin {
        .deliver(consumerTag: "c", deliveryTag: tag, redelivered: false, exchange: "P2P", routingKey: "k")
    }

    /// Runs `body` with a header frame for `channel` announcing `size` bytes, carrying `messageID` when given.
    static func withHeader<R>(channel: amqp_channel_t, size: Int, messageID: String?,
                              _ body: (amqp_frame_t) throws -> R) rethrows -> R {
        var properties = amqp_basic_properties_t()
        var frame = amqp_frame_t()
        frame.channel = channel
        frame.frame_type = UInt8(AMQP_FRAME_HEADER)
        frame.payload.properties.body_size = UInt64(size)
        guard let messageID else { return try body(frame) }
        var id = Array(messageID.utf8)
        return try id.withUnsafeMutableBytes { bytes in
            properties._flags = cloudbus_flag_message_id | cloudbus_flag_delivery_mode
            properties.delivery_mode = 2
            properties.message_id = amqp_bytes_t(len: bytes.count, bytes: bytes.baseAddress)
            return try withUnsafeMutablePointer(to: &properties) { pointer in
                frame.payload.properties.decoded = UnsafeMutableRawPointer(pointer)
                return try body(frame)
            }
        }
    }

    /// Runs `body` with a body frame for `channel` carrying `bytes`.
    static func withBody<R>(channel: amqp_channel_t, _ bytes: [UInt8], _ body: (amqp_frame_t) throws -> R) rethrows
        -> R
    {
        var copy = bytes
        return try copy.withUnsafeMutableBytes { raw in
            var frame = amqp_frame_t()
            frame.channel = channel
            frame.frame_type = UInt8(AMQP_FRAME_BODY)
            frame.payload.body_fragment = amqp_bytes_t(len: raw.count, bytes: raw.baseAddress)
            return try body(frame)
        }
    }

    @Test func contentsOnTwoChannelsInterleavedComeOutWholeAndApart() throws {
        var assembler = ContentAssembler()
        assembler.begin(Self.deliver(1), channel: 1)
        assembler.begin(Self.deliver(2), channel: 2)
        #expect(try Self.withHeader(channel: 1, size: 5, messageID: "one") { try assembler.header($0) } == nil)
        #expect(try Self.withHeader(channel: 2, size: 3, messageID: nil) { try assembler.header($0) } == nil)
        #expect(try Self.withBody(channel: 1, [1, 2]) { try assembler.body($0) } == nil)
        #expect(try Self.withBody(channel: 2, [7]) { try assembler.body($0) } == nil)
        // Channel 1 finishes first, while channel 2's content is still under way.
        let first = try #require(try Self.withBody(channel: 1, [3, 4, 5]) { try assembler.body($0) })
        #expect(first.body == [1, 2, 3, 4, 5])
        #expect(first.properties == AMQPProperties(deliveryMode: 2, messageID: "one"))
        guard case .deliver(_, 1, _, _, _) = first.origin else {
            Issue.record("channel 1's content came with \(first.origin)")
            return
        }
        let second = try #require(try Self.withBody(channel: 2, [8, 9]) { try assembler.body($0) })
        #expect(second.body == [7, 8, 9])
        #expect(second.announced == 3)
        #expect(second.properties == AMQPProperties())
        guard case .deliver(_, 2, _, _, _) = second.origin else {
            Issue.record("channel 2's content came with \(second.origin)")
            return
        }
        // Both finished: a body frame now has no content to join.
        #expect(throws: AMQPError.self) { try Self.withBody(channel: 1, [0]) { try assembler.body($0) } }
    }

    @Test func anEmptyBodyIsCompleteAtItsHeader() throws {
        var assembler = ContentAssembler()
        assembler.begin(Self.deliver(1), channel: 1)
        let content = try #require(
            try Self.withHeader(channel: 1, size: 0, messageID: "m") { try assembler.header($0) })
        #expect(content.body.isEmpty)
        #expect(content.properties.messageID == "m")
    }

    @Test func anOversizeBodyKeepsItsPrefixAndCountsTheRest() throws {
        var assembler = ContentAssembler()
        assembler.begin(Self.deliver(1), channel: 1, limit: 10)
        let size = Delivery.truncatedPrefixBytes + 100
        #expect(try Self.withHeader(channel: 1, size: size, messageID: nil) { try assembler.header($0) } == nil)
        let chunk = [UInt8](repeating: 0xAB, count: 4000)
        #expect(try Self.withBody(channel: 1, chunk) { try assembler.body($0) } == nil)
        let rest = [UInt8](repeating: 0xCD, count: size - chunk.count)
        let content = try #require(try Self.withBody(channel: 1, rest) { try assembler.body($0) })
        #expect(content.body.count == Delivery.truncatedPrefixBytes)
        #expect(content.announced == size)
        #expect(content.body.prefix(4000).allSatisfy { $0 == 0xAB })
        #expect(content.body.dropFirst(4000).allSatisfy { $0 == 0xCD })
    }

    @Test func framesOutOfOrderAreRefusedAndLoseNothingElse() throws {
        var assembler = ContentAssembler()
        #expect(throws: AMQPError.self) {
            try Self.withHeader(channel: 1, size: 1, messageID: nil) { try assembler.header($0) }
        }
        assembler.begin(Self.deliver(1), channel: 1)
        // A body before the header is refused, and the content still waits for its header.
        #expect(throws: AMQPError.self) { try Self.withBody(channel: 1, [1]) { try assembler.body($0) } }
        #expect(try Self.withHeader(channel: 1, size: 1, messageID: nil) { try assembler.header($0) } == nil)
        let content = try #require(try Self.withBody(channel: 1, [9]) { try assembler.body($0) })
        #expect(content.body == [9])
    }

    @Test func aNewMethodOnAChannelReplacesAnUnfinishedContent() throws {
        var assembler = ContentAssembler()
        assembler.begin(Self.deliver(1), channel: 1)
        #expect(try Self.withHeader(channel: 1, size: 4, messageID: nil) { try assembler.header($0) } == nil)
        assembler.begin(Self.deliver(2), channel: 1)
        #expect(try Self.withHeader(channel: 1, size: 1, messageID: nil) { try assembler.header($0) } == nil)
        let content = try #require(try Self.withBody(channel: 1, [5]) { try assembler.body($0) })
        #expect(content.body == [5])
        guard case .deliver(_, 2, _, _, _) = content.origin else {
            Issue.record("the replaced content came out: \(content.origin)")
            return
        }
    }
}
