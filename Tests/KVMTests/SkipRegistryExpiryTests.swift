import CloudBus
import CloudBusTesting
@testable import KVM
import LiveSettings
import MetricsTestKit
import Testing

/// Orphan TTL, compare-and-remove, the periodic cleanup and tombstones (scenarios 27–32, 35).
@Suite("Skip registry expiry")
struct SkipRegistryExpiryTests {
    typealias F = SkipFixture
    static let ttl = Duration.seconds(600)

    /// A registry with V orphaned at t0 = 0 s (X had it and left).
    private func orphaned(
        clock: ManualClock, timeout: LiveSetting<Duration> = F.timeout(),
        metrics: TestMetrics = TestMetrics(), probe: SkipRegistryProbe = SkipRegistryProbe()
    ) async -> SkipRegistry {
        let registry = F.registry(clock: clock, timeout: timeout, metrics: metrics, probe: probe)
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX))
        await registry.nodeLeft(F.nodeX)
        return registry
    }

    private func skippedFreshRound(_ registry: SkipRegistry, _ vms: [String]) async -> Set<String> {
        let mark = await registry.beginRound()
        let skipped = await registry.skipped(among: vms, since: mark)
        await registry.endRound(mark)
        return skipped
    }

    @Test("scenario 27: 1 ms before the TTL the orphan is still skipped (hook and snapshots)")
    func scenario27() async {
        let clock = ManualClock()
        let registry = await orphaned(clock: clock)
        clock.advance(by: Self.ttl - .milliseconds(1))
        #expect(await registry.isOrphanSkipped(F.vm(1)))
        #expect(await skippedFreshRound(registry, [F.vm(1)]) == [F.vm(1)])
        #expect(await !registry.orphanExpiredRecently(F.vm(1)))
    }

    @Test("scenario 28: 1 ms after the TTL the check removes the entry and the VM is traced again")
    func scenario28() async throws {
        let clock = ManualClock()
        let metrics = TestMetrics()
        let registry = await orphaned(clock: clock, metrics: metrics)
        clock.advance(by: Self.ttl + .milliseconds(1))
        #expect(await skippedFreshRound(registry, [F.vm(1)]).isEmpty)
        #expect(await registry.orphanExpiredRecently(F.vm(1)))
        #expect(await !registry.isOrphanSkipped(F.vm(1)))
        #expect(await registry.orphans.isEmpty)
        #expect(try metrics.expectCounter("cloudbus_worker_skip_registry_orphans_expired_total").totalValue == 1)
        #expect(await registry.orphanExpiredRecently(F.vm(1)))
    }

    @Test("scenario 29: exactly at the TTL the entry is expired, for the check and for the cleanup alike")
    func scenario29() async {
        let checkClock = ManualClock()
        let checked = await orphaned(clock: checkClock)
        checkClock.advance(by: Self.ttl)
        #expect(await !checked.isOrphanSkipped(F.vm(1)))
        #expect(await checked.orphans.isEmpty)

        let cleanupClock = ManualClock()
        let cleaned = await orphaned(clock: cleanupClock)
        cleanupClock.advance(by: Self.ttl - .nanoseconds(1))
        await cleaned.cleanup()
        #expect(await cleaned.orphans.count == 1)
        cleanupClock.advance(by: .nanoseconds(1))
        await cleaned.cleanup()
        #expect(await cleaned.orphans.isEmpty)
    }

    @Test("scenario 30: NodeLeft re-arms V between the expiry judgement and the removal: V survives, still skipped")
    func scenario30() async throws {
        let clock = ManualClock()
        let judged = RegistrySignal()
        let release = RegistrySignal()
        let probe = SkipRegistryProbe(expiryJudged: { _, _ in
            judged.fire()
            await release.wait()
        })
        let registry = await orphaned(clock: clock, probe: probe)
        // Y also runs an operation on V.
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeY))
        clock.advance(by: Self.ttl + .seconds(1))
        let result = try await withinSafetyBound {
            async let checked = registry.isOrphanSkipped(F.vm(1))
            await judged.wait()
            // The checker read t0 and judged it expired; now Y leaves and writes t1 = now.
            await registry.nodeLeft(F.nodeY)
            release.fire()
            return await checked
        }
        #expect(result)
        #expect(await registry.orphans == [F.vm(1): Self.ttl + .seconds(1)])
        #expect(await !registry.orphanExpiredRecently(F.vm(1)))
    }

    @Test("scenario 31: a cleanup tick removes only entries still holding the judged timestamp")
    func scenario31() async throws {
        let clock = ManualClock()
        let judged = RegistrySignal()
        let release = RegistrySignal()
        let probe = SkipRegistryProbe(cleanupJudged: { _ in
            judged.fire()
            await release.wait()
        })
        let registry = F.registry(clock: clock, probe: probe)
        let nodeZ = "33333333333333333333333333333333"
        // vm1 (X and Y) and vm2 (X only) orphaned at 0 s when X leaves; vm3 (Z) orphaned at 300 s.
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX))
        await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX))
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeY))
        await registry.recordSkip(F.skip(F.vm(3), from: nodeZ))
        await registry.nodeLeft(F.nodeX)
        clock.advance(by: .seconds(300))
        await registry.nodeLeft(nodeZ)
        clock.advance(by: .seconds(300))
        // Now: vm1 and vm2 orphaned at 0 (expired), vm3 at 300 s (fresh).
        try await withinSafetyBound {
            async let tick: Void = registry.cleanup()
            await judged.wait()
            // vm1 is refreshed (Y leaves) between the snapshot and the removal.
            await registry.nodeLeft(F.nodeY)
            release.fire()
            await tick
        }
        #expect(await registry.orphans == [F.vm(1): .seconds(600), F.vm(3): .seconds(300)])
        #expect(await registry.orphanExpiredRecently(F.vm(2)))
        #expect(await !registry.orphanExpiredRecently(F.vm(1)))
    }

    @Test("scenario 32: the cleanup ticks every 60 s while running; none after cancel; a second cancel is harmless")
    func scenario32() async throws {
        let clock = ManualClock()
        let registry = await orphaned(clock: clock)
        let running = Task { await registry.run() }
        try await waitUntil { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(59))
        #expect(await registry.cleanupTicks == 0)
        clock.advance(by: .seconds(1))
        try await waitUntil { await registry.cleanupTicks == 1 }
        try await waitUntil { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(60))
        try await waitUntil { await registry.cleanupTicks == 2 }
        // The orphan (t0 = 0, TTL 600 s) is removed by the tick at 600 s, not before.
        for _ in 3...9 {
            try await waitUntil { clock.sleeperCount == 1 }
            clock.advance(by: .seconds(60))
        }
        try await waitUntil { await registry.cleanupTicks == 9 }
        #expect(await registry.orphans.count == 1)
        try await waitUntil { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(60))
        try await waitUntil { await registry.cleanupTicks == 10 }
        #expect(await registry.orphans.isEmpty)

        running.cancel()
        await running.value
        running.cancel()
        #expect(clock.sleeperCount == 0)
        clock.advance(by: .seconds(600))
        await Task.yield()
        #expect(await registry.cleanupTicks == 10)
    }

    @Test("scenario 35: lowering the TTL at runtime expires existing entries; invalid values are refused")
    func scenario35() async throws {
        let clock = ManualClock()
        let timeout = F.timeout(seconds: 600)
        let registry = await orphaned(clock: clock, timeout: timeout)
        clock.advance(by: .seconds(300))
        #expect(await registry.isOrphanSkipped(F.vm(1)))
        try timeout.update(fromText: "120")
        #expect(await !registry.isOrphanSkipped(F.vm(1)))
        for bad in ["0", "-5", "ten", ""] {
            #expect(throws: InvalidSettingValue.self) { try timeout.update(fromText: bad) }
        }
        #expect(timeout.value == .seconds(120))
    }

    @Test("tombstone window: the current TTL counted from the removal; the cleanup forgets older tombstones")
    func tombstoneWindow() async {
        let clock = ManualClock()
        let registry = await orphaned(clock: clock)
        // Expired but not yet removed already counts.
        clock.advance(by: Self.ttl)
        #expect(await registry.orphanExpiredRecently(F.vm(1)))
        await registry.cleanup()
        #expect(await registry.tombstones.count == 1)
        clock.advance(by: Self.ttl - .seconds(1))
        #expect(await registry.orphanExpiredRecently(F.vm(1)))
        clock.advance(by: .seconds(1))
        #expect(await !registry.orphanExpiredRecently(F.vm(1)))
        await registry.cleanup()
        #expect(await registry.tombstones.isEmpty)
        #expect(await !registry.orphanExpiredRecently(F.vm(2)))
    }

    @Test("a TTL shorter than two cleanup intervals does not shrink the guard's window below them")
    func tombstoneWindowFloor() async throws {
        let clock = ManualClock()
        let timeout = F.timeout()
        let registry = await orphaned(clock: clock, timeout: timeout)
        try timeout.update(fromText: "1")
        clock.advance(by: .seconds(1))
        #expect(await registry.isOrphanSkipped(F.vm(1)) == false) // expired and removed: tombstoned now
        clock.advance(by: SkipRegistry.cleanupInterval * 2 - .seconds(1))
        #expect(await registry.orphanExpiredRecently(F.vm(1)))
        await registry.cleanup()
        #expect(await registry.tombstones.count == 1)
        clock.advance(by: .seconds(1))
        #expect(await !registry.orphanExpiredRecently(F.vm(1)))
        await registry.cleanup()
        #expect(await registry.tombstones.isEmpty)
    }
}

/// Polls `condition` (yielding, then sleeping 1 ms) until it holds; throws when a generous safety bound of real
/// time passes first. For waiting on work another task does after a manual-clock advance.
func waitUntil(_ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while await !condition() {
        guard ContinuousClock.now < deadline else { throw BoundExceeded(limit: .seconds(20)) }
        await Task.yield()
        try await Task.sleep(for: .milliseconds(1))
    }
}
