import Foundation
import Primitives

/// Handles one message class for the worker. Implementations live in the domain modules
/// (KVM, ZBS) and never see AMQP: they get a decoded message and return what to send.
///
/// Promise asked of implementations: idempotent under redelivery (the same message id may be
/// handled again after a crash), cancellation-aware (the worker cancels a handler whose deadline
/// passed), and never blocking a thread.
public protocol BusHandler: Sendable {
    associatedtype Message: BusMessage
    /// The resource whose serial executor runs this message (host, VM, storage or node uuid):
    /// messages for one key are handled in arrival order, one at a time.
    func resourceKey(for message: Message) -> String
    /// Whether the sender waits for an answer (ZStack's NeedReplyMessage). A request of such a
    /// class without `headers.replyTo` is rejected as bad input.
    var expectsReply: Bool { get }
    /// For one-way messages that only ask to look at the current state (a VM sync of a host): while one of them
    /// already waits to start on its key, a new one adds nothing and is acked at once, so a slow or hung key does
    /// not pile them up and hold the prefetch. Only for keys no other class uses. Default: false.
    var coalescesWhileWaiting: Bool { get }
    /// Short CPU work and no remote call (an echo, a settings change, an event looked at and mostly ignored): the
    /// handler runs on the consuming connection's thread, between its polls, with no thread hand-off. Default:
    /// false — it runs on one of the agent HTTP client's event loops (the cooperative pool when the worker was given
    /// none), so agent calls, storage and the decoding of large responses spread over every core instead of queueing
    /// on one thread. Either way a handler must never block its thread.
    var isLightweight: Bool { get }
    func ownedResource(for message: Message) -> String?
    func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput
}

extension BusHandler {
    public var coalescesWhileWaiting: Bool { false }
    public var isLightweight: Bool { false }

    /// The resource of the fleet's ring this message is about (a host or VM uuid), or nil when any worker may
    /// serve it. A worker that is not the ring's owner of it forwards the message to the owner's queue.
    public func ownedResource(for message: Message) -> String? { nil }
}

/// What a handler knows about the delivery it handles.
public struct HandlerContext: Sendable {
    public let base: MessageBase
    /// ``deadline`` as stored: a `MonotonicInstant` (one word of known layout) rather than a resilient
    /// `ContinuousClock.Instant`, which made every copy of a context, on every message, a run-time value-witness call.
    public let monotonicDeadline: MonotonicInstant?
    public let redelivered: Bool

    public init(base: MessageBase, deadline: ContinuousClock.Instant?, redelivered: Bool) {
        self.init(base: base, monotonicDeadline: deadline.map(MonotonicInstant.init), redelivered: redelivered)
    }

    public init(base: MessageBase, monotonicDeadline: MonotonicInstant?, redelivered: Bool) {
        self.base = base
        self.monotonicDeadline = monotonicDeadline
        self.redelivered = redelivered
    }

    /// When the sender stops waiting; handlers size their remote calls to fit inside it.
    public var deadline: ContinuousClock.Instant? { monotonicDeadline?.continuousInstant }

    /// Time left before the deadline, capped by `limit`; nil deadline gives `limit`.
    public func budget(upTo limit: Duration, now: ContinuousClock.Instant = .now) -> Duration {
        guard let deadline else { return limit }
        return max(.zero, min(limit, now.duration(to: deadline)))
    }
}

/// Everything a handler wants published, confirmed before the delivery is acked.
public struct HandlerOutput: Sendable {
    public var reply: (any BusReply)?
    public var messages: [OutboundMessage]

    public init(reply: (any BusReply)? = nil, messages: [OutboundMessage] = []) {
        self.reply = reply
        self.messages = messages
    }

    /// Whether some of the messages were written to the outbox with the handler's state change.
    public var writesOutbox: Bool { messages.contains { $0.outboxSeq != nil } }
}

/// A message a handler sends on (to another service or as an event), already encoded.
public struct OutboundMessage: Sendable {
    public enum Target: Sendable, Equatable {
        case service(String)
        case event(routingKey: String)
    }

    public var target: Target
    public var body: Data
    /// How long the broker may keep a request queued before dropping it: its own `timeout` (worthless when late),
    /// or nil for no expiry. Requests never get a blanket TTL shorter than their deadline.
    public var expiration: Duration?
    /// The outbox row that holds this message, when the handler wrote it with its state change: the worker removes
    /// the row once the broker confirmed the message, and publishes it again if that never happened.
    public var outboxSeq: Int64?

    public init(target: Target, body: Data, expiration: Duration? = nil, outboxSeq: Int64? = nil) {
        self.target = target
        self.body = body
        self.expiration = expiration
        self.outboxSeq = outboxSeq
    }
}

/// A failure the sender caused (unknown host, invalid field value): answered with this error,
/// copied to the dead-letter queue with the reason, and acked — retrying cannot help.
public struct BadRequest: Error, Sendable, CustomStringConvertible {
    public let error: ErrorCode
    public let reason: String

    public init(_ error: ErrorCode, reason: String) {
        self.error = error
        self.reason = reason
    }

    public var description: String { reason }
}

/// A handler error that knows its ZStack error code; anything else becomes SYS.1006.
public protocol ErrorCodeConvertible: Error {
    var errorCode: ErrorCode { get }
}
