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
        var body: [UInt8]
    }

    private struct Partial {
        var origin: Origin
        var properties = AMQPProperties()
        var expected: Int?
        var body: [UInt8] = []
    }

    private var partial: [amqp_channel_t: Partial] = [:]

    mutating func begin(_ origin: Origin, channel: amqp_channel_t) {
        partial[channel] = Partial(origin: origin)
    }

    mutating func header(_ frame: amqp_frame_t) throws(AMQPError) -> Complete? {
        guard var current = partial[frame.channel] else {
            throw .library(operation: "content header", status: -1, message: "header frame without a method on channel \(frame.channel)")
        }
        current.expected = Int(frame.payload.properties.body_size)
        if let decoded = frame.payload.properties.decoded {
            current.properties = decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee.swiftProperties
        }
        current.body.reserveCapacity(current.expected ?? 0)
        return finishIfComplete(current, channel: frame.channel)
    }

    mutating func body(_ frame: amqp_frame_t) throws(AMQPError) -> Complete? {
        guard var current = partial[frame.channel], current.expected != nil else {
            throw .library(operation: "content body", status: -1, message: "body frame without a header on channel \(frame.channel)")
        }
        let fragment = frame.payload.body_fragment
        if fragment.len > 0, let bytes = fragment.bytes {
            current.body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: fragment.len))
        }
        return finishIfComplete(current, channel: frame.channel)
    }

    private mutating func finishIfComplete(_ current: Partial, channel: amqp_channel_t) -> Complete? {
        if let expected = current.expected, current.body.count >= expected {
            partial[channel] = nil
            return Complete(origin: current.origin, properties: current.properties, body: current.body)
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
