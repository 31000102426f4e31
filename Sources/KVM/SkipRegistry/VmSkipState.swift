/// Whether one VM is skipped, as the tracer's snapshots see it: operations of live nodes in flight on it, and the
/// instant (registry clock) it was orphaned, if it is.
struct VmSkipState: Sendable, Hashable {
    var operations: Int
    var orphanedAt: Duration?

    /// Skipped at `instant` with orphan timeout `ttl`: an operation is in flight, or the orphan entry is younger
    /// than the TTL (`instant - orphanedAt >= ttl` is expired, the same rule as the cleanup).
    func isSkipped(at instant: Duration, ttl: Duration) -> Bool {
        if operations > 0 { return true }
        guard let orphanedAt else { return false }
        return instant - orphanedAt < ttl
    }
}
