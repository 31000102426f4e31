import Synchronization

/// A bounded set of recently seen identifiers, oldest forgotten first.
///
/// The worker records each message id as it arrives so a redelivered message (same id) can be recognised and not
/// executed twice. The window remembers the last `capacity` insertions: O(1) `insertIfAbsent` and `contains`, memory
/// bounded by `capacity`. Safe to use from any thread or task.
public final class RecentIDWindow<ID: Hashable & Sendable>: Sendable {
    /// How many of the most recent insertions are remembered.
    public let capacity: Int
    private let state: Mutex<Window>

    private struct Window: Sendable {
        /// Each remembered id, tagged with the insertion that put it there.
        var generations: [ID: UInt64] = [:]
        /// Insertions oldest first. An entry whose generation no longer matches `generations` (the id was removed,
        /// or removed and inserted again later) is stale and is skipped when it falls out of the window.
        var order = Ring<(id: ID, generation: UInt64)>()
        var nextGeneration: UInt64 = 0
    }

    /// - Parameter capacity: How many recent insertions to remember; at least 1. Size it to cover the redelivery
    ///   horizon (prefetch × consumers, plus what can arrive while a message is being retried).
    public init(capacity: Int) {
        precondition(capacity >= 1, "RecentIDWindow capacity must be at least 1")
        self.capacity = capacity
        self.state = Mutex(Window())
    }

    /// Records `id` unless it is already in the window. Returns `true` when it was absent (first sighting: go ahead),
    /// `false` when it is a duplicate. A duplicate does not refresh the id's position: eviction stays FIFO by first
    /// insertion.
    @discardableResult
    public func insertIfAbsent(_ id: ID) -> Bool {
        state.withLock { window in
            if window.generations[id] != nil {
                return false
            }
            window.nextGeneration &+= 1
            window.generations[id] = window.nextGeneration
            window.order.append((id, window.nextGeneration))
            while window.order.count > capacity, let oldest = window.order.popFirst() {
                if window.generations[oldest.id] == oldest.generation {
                    window.generations[oldest.id] = nil
                }
            }
            return true
        }
    }

    /// Whether `id` is in the window.
    public func contains(_ id: ID) -> Bool {
        state.withLock { $0.generations[id] != nil }
    }

    /// Forgets `id`, so that a redelivery of it is treated as new — for a message whose handling failed and was
    /// requeued rather than answered. Its slot in the window stays used until it would have been evicted.
    public func remove(_ id: ID) {
        state.withLock { _ = $0.generations.removeValue(forKey: id) }
    }

    /// Ids currently remembered (at most `capacity`).
    public var count: Int {
        state.withLock { $0.generations.count }
    }
}
