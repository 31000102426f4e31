/// Where an outbox message goes: a service (`<service>.<node>`) or `BROADCAST` under a routing key.
public enum OutboxTarget: Sendable, Equatable {
    case service(String)
    case event(routingKey: String)
}

/// A message a handler decided to send, already encoded, kept until the broker confirmed it.
public struct OutboxMessage: Sendable, Equatable {
    public var target: OutboxTarget
    public var body: [UInt8]
    /// The broker expiration the message must carry (its own timeout), or nil.
    public var expirationMillis: Int64?

    public init(target: OutboxTarget, body: [UInt8], expirationMillis: Int64? = nil) {
        self.target = target
        self.body = body
        self.expirationMillis = expirationMillis
    }
}

/// An outbox row: the message, the executor key it was written under, and its place in the outbox's order.
public struct OutboxEntry: Sendable, Equatable {
    /// Increases with every row written: the order to publish in.
    public var seq: Int64
    /// The executor key of the handler that wrote it (a VM or host uuid): its pending rows are published on that
    /// key, before the key's next message, so a late event never overtakes a newer one about the same resource.
    public var key: String
    public var message: OutboxMessage

    public init(seq: Int64, key: String, message: OutboxMessage) {
        self.seq = seq
        self.key = key
        self.message = message
    }
}

/// The transactional outbox: a handler's state change and the messages it causes are written in one transaction
/// (``VmStore/updateVm(uuid:outboxKey:_:messages:)``, ``HostStore/updateHostStatus(uuid:to:outboxKey:messages:)``);
/// the worker publishes them, and removes each row only once the broker confirmed it. A row still here after a lost
/// connection or a crash is published again — at least once, with the message id it was written with, so receivers
/// can tell a repeat.
public protocol OutboxStore: Sendable {
    /// Pending rows of `key` (every key when nil), oldest first.
    func pendingOutbox(key: String?) async throws -> [OutboxEntry]

    /// The keys that have pending rows, sorted (what a worker flushes at start, without reading the bodies).
    func pendingOutboxKeys() async throws -> [String]

    /// Removes rows whose messages the broker confirmed.
    func removeOutbox(seqs: [Int64]) async throws
}
