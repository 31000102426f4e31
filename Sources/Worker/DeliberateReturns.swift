import Synchronization

/// The messages this worker gave back to their queue on purpose (an output the broker refused, a shutdown, a
/// forward that failed), by message id, so that coming back is not held against them as a crash: the delivery
/// limit is for messages that crash or stop a worker, not for ones it returned during a broker alarm.
///
/// In memory only: after a restart every return counts (the restart may have been the crash). Bounded: past
/// ``capacity`` ids it forgets them all, and the worst that follows is a deliberate return counted once.
final class DeliberateReturns: Sendable {
    static let capacity = 65_536

    private struct Entry { var given = 0, taken = 0 }
    private let entries = Mutex<[String: Entry]>([:])
    /// `entries.count`, readable without the lock: every settled message asks ``forget(_:)``, and almost always
    /// nothing was returned, so the delivery path must not take a lock to learn that.
    private let count = Atomic<Int>(0)

    /// This worker returned one delivery of `id`.
    func note(_ id: String) {
        entries.withLock { entries in
            if entries.count >= Self.capacity, entries[id] == nil { entries.removeAll() }
            entries[id, default: Entry()].given += 1
            count.store(entries.count, ordering: .relaxed)
        }
    }

    /// How many times this worker returned `id` (what to subtract from the broker's `x-delivery-count`).
    func given(_ id: String) -> Int {
        guard count.load(ordering: .relaxed) > 0 else { return 0 }
        return entries.withLock { $0[id]?.given ?? 0 }
    }

    /// Claims one not yet claimed return of `id`: true when this redelivery is one this worker caused (a classic
    /// queue's `redelivered` flag cannot say which).
    func take(_ id: String) -> Bool {
        guard count.load(ordering: .relaxed) > 0 else { return false }
        return entries.withLock { entries in
            guard var entry = entries[id], entry.taken < entry.given else { return false }
            entry.taken += 1
            entries[id] = entry
            return true
        }
    }

    /// `id` is settled (answered or refused): nothing more to remember.
    func forget(_ id: String) {
        guard count.load(ordering: .relaxed) > 0 else { return }
        entries.withLock { entries in
            if entries.removeValue(forKey: id) != nil { count.store(entries.count, ordering: .relaxed) }
        }
    }
}
