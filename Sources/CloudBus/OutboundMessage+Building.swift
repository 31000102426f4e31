import Primitives

extension OutboundMessage {
    /// A one-way message to `service` (ZStack's `bus.send(msg)` without a callback): `serviceId` set, a fresh id,
    /// `headers.noReply = "true"` so the receiver sends nothing back, no `replyTo`, `correlationId` = the id (for
    /// tracing, as ZStack stamps it), and an empty task context as Java writes it. With `timeout`, a receiver
    /// drops the message (unrun) once it waited that long: for requests that are worthless when late.
    ///
    /// - Throws: `EncodingError` only if the message holds a non-finite floating-point number.
    public static func oneWay<M: BusMessage>(
        _ message: M, to service: ServiceID, timeout: Duration? = nil, now: Int64 = EpochMillis.now(),
        id: String = MessageID.random()
    ) throws -> OutboundMessage {
        let headers = MessageHeaders(correlationId: id, noReply: "true", schema: [:], taskContext: .emptyObject)
        let millis = timeout?.inMilliseconds
        let base = MessageBase(id: id, serviceId: service.rawValue, createdTime: now,
                               timeout: millis ?? MessageBase.noTimeout, headers: headers)
        return OutboundMessage(target: .service(service.rawValue), body: try EnvelopeCodec.encode(message, base: base),
                               expiration: timeout)
    }

    /// A canonical event fired by `node`, broadcast on `BROADCAST` with the canonical-event routing key.
    ///
    /// - Throws: `EncodingError` only if the content holds a non-finite floating-point number.
    public static func event<C: CanonicalEventContent>(
        _ content: C, from node: NodeUUID, now: Int64 = EpochMillis.now()
    ) throws -> OutboundMessage {
        let envelope = try CanonicalEvent.envelope(content: content, managementNodeId: node.rawValue, now: now)
        return OutboundMessage(target: .event(routingKey: CanonicalEvent.routingKey), body: try envelope.encoded())
    }
}
