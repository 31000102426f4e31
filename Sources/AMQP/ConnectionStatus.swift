import Synchronization

/// What other threads may read about a connection: its epoch and counters an operator watches.
public struct ConnectionStatistics: Sendable, Equatable {
    /// Increases on every successful (re)connect; delivery tags carry it.
    public var epoch: UInt64 = 0
    public var connected = false
    /// `host:port` of the endpoint the live connection is on; nil while disconnected. Which cluster node this is.
    public var endpoint: String?
    public var reconnects = 0
    /// Connections made to another endpoint than the previous successful one: how often a node was left behind.
    public var failovers = 0
    /// Acks for deliveries of an earlier epoch, dropped instead of sent (the broker requeued them).
    public var staleAcksDropped = 0
    /// Mandatory publishes the broker could not route.
    public var returnedMessages = 0
    /// The broker blocked publishing on this connection (`connection.blocked`: a memory or disk alarm) and has not
    /// unblocked it yet. Cleared by `connection.unblocked` and by every new connection.
    public var blocked = false
    /// Publishes that got no confirm within ``AMQPConfiguration/confirmTimeout``.
    public var confirmTimeouts = 0
    /// Publishes sent and not yet confirmed (or returned), as of the owner loop's last pass: a figure that keeps
    /// growing means the broker stopped confirming (an alarm, a sick queue) and replies are piling up.
    public var unconfirmedPublishes = 0
    /// Publishes the publishing thread wrote itself while the owner thread slept (no wake-up of the owner thread).
    public var borrowedPublishes = 0
    /// The passes (one write each) those publishes went out in: another connection's owner thread runs what its
    /// tasks published during a pass in one, so under load this grows much slower than ``borrowedPublishes``.
    public var borrowedPasses = 0
    /// Times a publishing thread left its publish to the owner thread because the socket's send buffer was filling
    /// (the broker reads slowly or not at all: an alarm, credit flow). Growing fast: the broker is holding back.
    public var sendBufferDeferrals = 0
    /// Passes in which another connection's owner thread read this connection's frames (its confirms) while this
    /// connection's thread slept (see `AMQPConnection.delegateReads(to:)`): confirms that woke no extra thread.
    public var delegatedReadPasses = 0
    /// Times that thread gave the reading back (this connection's thread was busy, its send buffer was filling, or the
    /// reader stopped serving) and woke this connection's thread for it. A small fraction of ``delegatedReadPasses``
    /// in steady state.
    public var delegatedReadsReturned = 0
    /// Sleeps in which this connection's thread, as a reader, left its delegators' sockets to be read when it woke
    /// for the next delivery instead of waking for their confirms (`AMQPConnection.deferDelegatedReads`).
    public var deferredDelegatedReads = 0
    public var lastError: String?
}

final class ConnectionStatus: Sendable {
    let value = Mutex(ConnectionStatistics())
    /// Kept apart from `value`: the owner loop stores it on every pass, and a plain atomic store costs no lock.
    let unconfirmed = Atomic<Int>(0)
    /// Counted per publish by whichever thread holds the owner lock: atomics, not the mutex, for the same reason.
    let borrowedPublishes = Atomic<Int>(0)
    let borrowedPasses = Atomic<Int>(0)
    let sendBufferDeferrals = Atomic<Int>(0)
    let delegatedReadPasses = Atomic<Int>(0)
    let delegatedReadsReturned = Atomic<Int>(0)
    let deferredDelegatedReads = Atomic<Int>(0)

    func update(_ body: (inout ConnectionStatistics) -> Void) { value.withLock { body(&$0) } }
    var snapshot: ConnectionStatistics {
        var statistics = value.withLock { $0 }
        statistics.unconfirmedPublishes = unconfirmed.load(ordering: .relaxed)
        statistics.borrowedPublishes = borrowedPublishes.load(ordering: .relaxed)
        statistics.borrowedPasses = borrowedPasses.load(ordering: .relaxed)
        statistics.sendBufferDeferrals = sendBufferDeferrals.load(ordering: .relaxed)
        statistics.delegatedReadPasses = delegatedReadPasses.load(ordering: .relaxed)
        statistics.delegatedReadsReturned = delegatedReadsReturned.load(ordering: .relaxed)
        statistics.deferredDelegatedReads = deferredDelegatedReads.load(ordering: .relaxed)
        return statistics
    }
}
