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
        var origin: Origin
        var limit: Int?
        var properties = AMQPProperties()
        var expected: Int?
        /// Bytes kept: all of them, or the prefix of an oversize body.
        var keep = Int.max
        var received = 0
        var body: [UInt8] = []
    }

    private var partial: [amqp_channel_t: Partial] = [:]

    /// A content begins on `channel`. Over `limit` (announced by its header), only a prefix of the body is kept.
    mutating func begin(_ origin: Origin, channel: amqp_channel_t, limit: Int? = nil) {
        partial[channel] = Partial(origin: origin, limit: limit)
    }

    // The partial content is taken out of the table while it is worked on and put back when incomplete: mutated in
    // place, its body buffer is never copied (a copy per body frame, and a second allocation per message, otherwise).

    mutating func header(_ frame: amqp_frame_t) throws(AMQPError) -> Complete? {
        guard var current = partial.removeValue(forKey: frame.channel) else {
            throw .library(operation: "content header", status: -1, message: "header frame without a method on channel \(frame.channel)")
        }
        let expected = Int(clamping: frame.payload.properties.body_size)
        current.expected = expected
        if let decoded = frame.payload.properties.decoded {
            current.properties = decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee.swiftProperties
        }
        // Decided from the header, before a byte of the body is read: an oversize body is never allocated.
        if let limit = current.limit, expected > limit { current.keep = Delivery.truncatedPrefixBytes }
        current.body.reserveCapacity(min(expected, current.keep))
        return finishIfComplete(current, channel: frame.channel)
    }

    mutating func body(_ frame: amqp_frame_t) throws(AMQPError) -> Complete? {
        guard var current = partial.removeValue(forKey: frame.channel) else {
            throw .library(operation: "content body", status: -1, message: "body frame without a header on channel \(frame.channel)")
        }
        guard current.expected != nil else {
            partial[frame.channel] = current
            throw .library(operation: "content body", status: -1, message: "body frame without a header on channel \(frame.channel)")
        }
        let fragment = frame.payload.body_fragment
        current.received += fragment.len
        let room = current.keep - current.body.count
        if fragment.len > 0, room > 0, let bytes = fragment.bytes {
            current.body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: min(fragment.len, room)))
        }
        return finishIfComplete(current, channel: frame.channel)
    }

    private mutating func finishIfComplete(_ current: consuming Partial, channel: amqp_channel_t) -> Complete? {
        if let expected = current.expected, current.received >= expected {
            return Complete(origin: current.origin, properties: current.properties, body: current.body,
                            announced: expected)
        }
        partial[channel] = current
        return nil
    }

    mutating func reset() { partial.removeAll() }
}

extension amqp_basic_properties_t {
    var swiftProperties: AMQPProperties {
        var result = AMQPProperties()
        let has = { (flag: amqp_flags_t) in self._flags & flag != 0 }
        if has(cloudbus_flag_delivery_mode) { result.deliveryMode = delivery_mode }
        if has(cloudbus_flag_expiration) { result.expiration = expiration.string }
        if has(cloudbus_flag_message_id) { result.messageID = message_id.string }
        if has(cloudbus_flag_correlation_id) { result.correlationID = correlation_id.string }
        if has(cloudbus_flag_reply_to) { result.replyTo = reply_to.string }
        if has(cloudbus_flag_content_type) { result.contentType = content_type.string }
        if has(cloudbus_flag_headers) { result.headers = headers.swiftTable }
        return result
    }
}
