import Primitives

/// Builds replies the way ZStack's `CloudBus.reply(request, reply)` does, so a Java sender matches them to its
/// pending request.
///
/// Every reply gets: `serviceId` = the request's `headers.replyTo` (the reply is published to P2P with that
/// routing key), `headers.isReply = "true"`, `headers.correlationId` = the request's `id`, a `headers.schema`
/// naming `ErrorCodeList` at `error` (and nested causes) when an error is present and `{}` otherwise, an empty
/// `task-context`, a fresh `id`, `createdTime` = now, `success` written explicitly as the reply says it
/// (Java would read a missing `success` as true; and some replies are successes that carry an error: a failed
/// ping is `success=true, connected=false, error=…`, exactly as ZStack's HostBase sends it) and `canceled` as given.
public enum ReplyFactory {
    /// Whether the sender waits for a reply: `headers.replyTo` is present and `headers.noReply` is not "true".
    /// ZStack drops replies to fire-and-forget sends; so should the worker.
    public static func needsReply(_ request: MessageBase) -> Bool {
        request.headers.replyTo != nil && !request.headers.isNoReply
    }

    /// The reply envelope for `request`, or nil when the request carries no `headers.replyTo` (nowhere to send it).
    /// It does not consult `noReply`: call `needsReply` to decide whether to send.
    public static func reply<R: BusReply>(
        _ reply: R,
        to request: MessageBase,
        now: Int64 = EpochMillis.now(),
        id: String = MessageID.random()
    ) -> Envelope<R>? {
        replyBase(reply, to: request, now: now, id: id).map { Envelope(message: reply, base: $0) }
    }

    /// The base fields of ``reply(_:to:now:id:)``'s envelope: for a reply held as `any BusReply`, which encodes itself
    /// with them (``BusMessage/envelopeBytes(base:)``) without an `Envelope` of its opened type.
    public static func replyBase(
        _ message: any BusReply,
        to request: MessageBase,
        now: Int64 = EpochMillis.now(),
        id: String = MessageID.random()
    ) -> MessageBase? {
        guard let replyTo = request.headers.replyTo else { return nil }
        var schema: [String: String] = [:]
        if let error = message.error {
            for entry in error.schemaEntries(at: "error") { schema[entry.path] = entry.className }
        }
        let headers = MessageHeaders(
            correlationId: request.id,
            isReply: "true",
            schema: schema,
            taskContext: .emptyObject
        )
        return MessageBase(id: id, serviceId: replyTo, createdTime: now, headers: headers)
    }

    /// A generic `MessageReply` carrying `error`: the answer for requests whose class is unknown or undecodable.
    public static func errorReply(
        _ error: ErrorCode,
        to request: MessageBase,
        now: Int64 = EpochMillis.now(),
        id: String = MessageID.random()
    ) -> Envelope<MessageReply>? {
        reply(MessageReply(error: error), to: request, now: now, id: id)
    }

    /// The SYS.1001 reply for a request whose deadline has passed before it was handled, worded as ZStack's
    /// sender-side timer words it (`className` is the request's class, the seconds come from its `timeout`).
    public static func timeoutReply(
        to request: MessageBase,
        className: String,
        now: Int64 = EpochMillis.now(),
        id: String = MessageID.random()
    ) -> Envelope<MessageReply>? {
        let error = SysError.timeout(className: className, id: request.id, timeoutMillis: request.timeout)
        return errorReply(error, to: request, now: now, id: id)
    }
}
