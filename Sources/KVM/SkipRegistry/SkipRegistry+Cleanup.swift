import Primitives
import Inventory
import CloudBus
import LiveSettings
import Logging

/// The periodic cleanup (PR #3330's 60-second task).
extension SkipRegistry {
    /// Removes expired orphans every ``cleanupInterval`` of the injected clock until the calling task is
    /// cancelled, then returns (cancelling twice is harmless). Meant to run as a lifecycle service; one tick also
    /// retries a failed store write.
    public nonisolated func run() async {
        var next = clock.now + Self.cleanupInterval
        while !Task.isCancelled {
            do {
                try await clock.sleep(untilOffset: next)
            } catch {
                return
            }
            await cleanup()
            next = max(next + Self.cleanupInterval, clock.now)
        }
    }

    /// One cleanup tick: every orphan with `now - orphanedAt >= timeout` is removed compare-and-remove (an entry
    /// refreshed since the judgement survives: scenario 31) and tombstoned; tombstones older than the tombstone
    /// window are forgotten, and so are stored orphan rows older than the TTL plus that window (on the store's
    /// clock).
    func cleanup() async {
        let ttl = timeout.value
        let now = clock.now
        let expired = orphans.filter { now - $0.value >= ttl }
        if !expired.isEmpty, let judged = probe.cleanupJudged { await judged(expired.keys.sorted()) }
        for (vmUuid, orphanedAt) in expired {
            _ = removeExpiredOrphan(vmUuid, judgedAt: orphanedAt)
        }
        let later = clock.now
        let window = tombstoneWindow
        tombstones = tombstones.filter { later - $0.value < window }
        persist(.forgetOrphans(olderThanMillis: (ttl + window).inMilliseconds))
        cleanupTicks += 1
        await flushChanges()
    }
}
