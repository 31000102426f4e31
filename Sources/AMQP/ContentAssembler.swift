import CRabbitMQ
import CRabbitMQShim

/// Reassembles method + header + body frames into whole messages without blocking the owner
/// thread: frames are fed as they arrive. Owner-thread only.
struct ContentAssembler {
    enum Origin {
        case deliver(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
        case returned(replyCode: UInt16, replyText: String, exchange: String, routingKey: String)
    }

    struct Complete {
        var origin: Origin
        var properties: AMQPProperties
        /// The body, or its first `Delivery.truncatedPrefixBytes` when `announced` is over the limit.
        var body: [UInt8]
        var announced: Int
    }

    private struct Partial {
        let channel: amqp_channel_t
        let limit: Int?
        /// What the finished content will be, filled in place as frames arrive (`announced` at the end, from
        /// `expected`).
        var content: Complete
        /// The size the header announced; nil until the header came.
        var expected: Int?
        /// Bytes kept: all of them, or the prefix of an oversize body.
        var keep = Int.max
        var received = 0
    }

    /// One entry per channel with a content under way (one or two: a linear search beats hashing). Entries are
    /// mutated in place and a finished one is moved out whole: taken out of a dictionary and put back, the entry
    /// was copied — every string of its properties retained and released — twice per frame.
    private var partials: [Partial] = []

    private func index(of channel: amqp_channel_t) -> Int? {
        partials.firstIndex { $0.channel == channel }
    }

    /// A content begins on `channel`. Over `limit` (announced by its header), only a prefix of the body is kept.
    mutating func begin(_ origin: Origin, channel: amqp_channel_t, limit: Int? = nil) {
        let fresh = Partial(channel: channel, limit: limit,
                            content: Complete(origin: origin, properties: AMQPProperties(), body: [], announced: 0))
        if let index = index(of: channel) { partials[index] = fresh } else { partials.append(fresh) }
    }

    mutating func header(_ frame: amqp_frame_t) throws(AMQPError) -> Complete? {
        guard let index = index(of: frame.channel) else {
            throw .library(operation: "content header", status: -1, message: "header frame without a method on channel \(frame.channel)")
        }
        let expected = Int(clamping: frame.payload.properties.body_size)
        partials[index].expected = expected
        if let decoded = frame.payload.properties.decoded {
            partials[index].content.properties =
                decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee.swiftProperties
        }
        // Decided from the header, before a byte of the body is read: an oversize body is never allocated.
        if let limit = partials[index].limit, expected > limit { partials[index].keep = Delivery.truncatedPrefixBytes }
        partials[index].content.body.reserveCapacity(min(expected, partials[index].keep))
        return finishIfComplete(index)
    }

    mutating func body(_ frame: amqp_frame_t) throws(AMQPError) -> Complete? {
        guard let index = index(of: frame.channel), partials[index].expected != nil else {
            throw .library(operation: "content body", status: -1, message: "body frame without a header on channel \(frame.channel)")
        }
        let fragment = frame.payload.body_fragment
        partials[index].received += fragment.len
        let room = partials[index].keep - partials[index].content.body.count
        if fragment.len > 0, room > 0, let bytes = fragment.bytes {
            partials[index].content.body.append(
                contentsOf: UnsafeRawBufferPointer(start: bytes, count: min(fragment.len, room)))
        }
        return finishIfComplete(index)
    }

    private mutating func finishIfComplete(_ index: Int) -> Complete? {
        guard let expected = partials[index].expected, partials[index].received >= expected else { return nil }
        if index != partials.count - 1 { partials.swapAt(index, partials.count - 1) }
        var content = partials.removeLast().content
        content.announced = expected
        return content
    }

    mutating func reset() { partials.removeAll() }
}

extension amqp_basic_properties_t {
    /// Built from locals in one initialiser call: assigned member by member, the struct was copied (and every
    /// string in it retained) at each step.
    var swiftProperties: AMQPProperties {
        let flags = _flags
        return AMQPProperties(
            deliveryMode: flags & cloudbus_flag_delivery_mode != 0 ? delivery_mode : nil,
            expiration: flags & cloudbus_flag_expiration != 0 ? expiration.string : nil,
            messageID: flags & cloudbus_flag_message_id != 0 ? message_id.string : nil,
            correlationID: flags & cloudbus_flag_correlation_id != 0 ? correlation_id.string : nil,
            replyTo: flags & cloudbus_flag_reply_to != 0 ? reply_to.string : nil,
            contentType: flags & cloudbus_flag_content_type != 0 ? content_type.string : nil,
            headers: flags & cloudbus_flag_headers != 0 ? headers.swiftTable : [:])
    }
}
