/// Test seam: lets a test suspend the registry between judging an orphan expired and removing it, to force the
/// interleavings the compare-and-remove exists for (scenarios 30 and 31). Production passes none, and then no
/// suspension point exists between the judgement and the removal.
struct SkipRegistryProbe: Sendable {
    /// Called by `isOrphanSkipped` after judging `vmUuid` (orphaned at the given instant) expired.
    var expiryJudged: (@Sendable (_ vmUuid: String, _ orphanedAt: Duration) async -> Void)?
    /// Called by a cleanup tick after it chose the expired VMs, before removing any.
    var cleanupJudged: (@Sendable (_ expired: [String]) async -> Void)?

    init(
        expiryJudged: (@Sendable (String, Duration) async -> Void)? = nil,
        cleanupJudged: (@Sendable ([String]) async -> Void)? = nil
    ) {
        self.expiryJudged = expiryJudged
        self.cleanupJudged = cleanupJudged
    }
}
