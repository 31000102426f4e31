import Primitives
import CloudBus
import Inventory
import LiveSettings
import Logging
import Metrics

/// The tracer's questions (see ``VmTraceSkips``).
extension SkipRegistry {
    public func beginRound() -> TraceRoundMark {
        rounds.open(at: sequence)
        return TraceRoundMark(sequence: sequence, instant: clock.now)
    }

    /// Snapshot #1 ∪ snapshot #2 for `vms`: a VM counts if it is skipped now, or was skipped at `mark` (its state
    /// then is rebuilt from the round log; orphan ages at the mark are judged at `mark.instant` with the current
    /// timeout). Cost: a few dictionary lookups per VM, whatever the registry holds.
    public func skipped(among vms: [String], since mark: TraceRoundMark) -> Set<String> {
        let ttl = timeout.value
        let now = clock.now
        let logged = rounds.keptChanges > 0
        var result = Set<String>()
        for vmUuid in vms {
            if operationCount[vmUuid] != nil {
                result.insert(vmUuid)
                continue
            }
            let current = VmSkipState(operations: 0, orphanedAt: orphans[vmUuid])
            if current.isSkipped(at: now, ttl: ttl) {
                result.insert(vmUuid)
                continue
            }
            let atMark = (logged ? rounds.state(of: vmUuid, atMark: mark.sequence) : nil) ?? current
            if atMark.isSkipped(at: mark.instant, ttl: ttl) { result.insert(vmUuid) }
        }
        return result
    }

    public func endRound(_ mark: TraceRoundMark) {
        rounds.close(at: mark.sequence)
    }

    /// TTL-aware (the reviewed PR's plain `containsKey` kept skipping expired entries until the next cleanup):
    /// true while the orphan entry is younger than the current timeout; an expired entry is removed
    /// compare-and-remove, tombstoned, and gives false, unless a fresh timestamp replaced it meanwhile
    /// (scenario 30), which gives true.
    public func isOrphanSkipped(_ vmUuid: String) async -> Bool {
        while let orphanedAt = orphans[vmUuid] {
            if clock.now - orphanedAt < timeout.value { return true }
            if let judged = probe.expiryJudged { await judged(vmUuid, orphanedAt) }
            if removeExpiredOrphan(vmUuid, judgedAt: orphanedAt) {
                await flushChanges()
                return false
            }
        }
        return false
    }

    /// True when `vmUuid`'s orphan entry has expired (removed or not yet) rather than been continued, within
    /// the tombstone window (``tombstoneWindow``), counted from the removal (which happens at the first check or
    /// cleanup tick after expiry, so at most ``cleanupInterval`` late). Tombstones are kept in memory only.
    ///
    /// With a shared store, a VM this worker knows nothing about is asked of the store too (its orphan may have
    /// been recorded by the workers that received the NodeLeft); a store that does not answer counts as "expired
    /// recently", so the Stopped verdict is confirmed rather than trusted.
    public func orphanExpiredRecently(_ vmUuid: String) async -> Bool {
        let ttl = timeout.value
        let now = clock.now
        if let orphanedAt = orphans[vmUuid], now - orphanedAt >= ttl { return true }
        if let removedAt = tombstones[vmUuid], now - removedAt < tombstoneWindow { return true }
        guard sharesStore else { return false }
        guard let states = await sharedStates(of: [vmUuid]) else { return true }
        return states[vmUuid] == .orphanExpiredRecently
    }

    /// The fleet-wide second opinion before missing-VM verdicts: which of `vms` the shared store says are skipped
    /// (an operation of any node in flight, or an orphan younger than the TTL on the store's clock), so a skip that
    /// reached only another worker still protects the VM here. Without a shared store: none. When the store does
    /// not answer: all of them (no verdict this round; the next round asks again), counted.
    public func protectedFleetWide(_ vms: [String]) async -> Set<String> {
        guard sharesStore, !vms.isEmpty else { return [] }
        guard let states = await sharedStates(of: vms) else { return Set(vms) }
        return Set(states.compactMap { $0.value == .skipped ? $0.key : nil })
    }

    /// The store's answer, or nil (logged and counted) when it has none.
    private func sharedStates(of vms: [String]) async -> [String: SharedSkipState]? {
        guard let store else { return nil }
        do {
            return try await store.sharedSkipStates(
                of: vms, orphanTimeoutMillis: timeout.value.inMilliseconds,
                expiryWindowMillis: tombstoneWindow.inMilliseconds)
        } catch {
            metrics.sharedCheckFailures.increment()
            logger.warning("shared skip rows unreadable; holding verdicts on these VMs this round", metadata: [
                "vms": "\(vms.count)", "error": "\(error)",
            ])
            return nil
        }
    }

    /// How long an expired orphan keeps the split-brain guard on: the **current** timeout, but never less than
    /// two cleanup intervals (two host pings at ZStack's default interval). A short TTL must not shrink the guard
    /// below the time the two hosts' syncs need to both report after the expiry, or the race it closes reopens.
    var tombstoneWindow: Duration { max(timeout.value, Self.cleanupInterval * 2) }

    /// Removes `vmUuid`'s orphan entry only if it still holds `orphanedAt`, the timestamp judged expired.
    /// Returns whether it removed it. The stored row is kept: it ages past the TTL on the store's clock, which is
    /// how every worker of a fleet learns that the orphan expired recently; cleanup forgets it after the window.
    func removeExpiredOrphan(_ vmUuid: String, judgedAt orphanedAt: Duration) -> Bool {
        guard orphans[vmUuid] == orphanedAt else { return false }
        willChange(vmUuid)
        orphans.removeValue(forKey: vmUuid)
        let now = clock.now
        tombstones[vmUuid] = now
        metrics.orphansExpired.increment()
        logger.info("orphaned VM skip expired", metadata: [
            "vm": "\(vmUuid)", "age": "\(now - orphanedAt)", "timeout": "\(timeout.value)",
        ])
        return true
    }
}
