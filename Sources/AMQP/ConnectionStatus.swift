import Synchronization

/// What other threads may read about a connection: its epoch and counters an operator watches.
public struct ConnectionStatistics: Sendable, Equatable {
    /// Increases on every successful (re)connect; delivery tags carry it.
    public var epoch: UInt64 = 0
    public var connected = false
    public var reconnects = 0
    /// Acks for deliveries of an earlier epoch, dropped instead of sent (the broker requeued them).
    public var staleAcksDropped = 0
    /// Mandatory publishes the broker could not route.
    public var returnedMessages = 0
    public var lastError: String?
}

final class ConnectionStatus: Sendable {
    let value = Mutex(ConnectionStatistics())

    func update(_ body: (inout ConnectionStatistics) -> Void) { value.withLock { body(&$0) } }
    var snapshot: ConnectionStatistics { value.withLock { $0 } }
}
