import CloudBus
import CloudBusTesting
import Inventory
@testable import KVM
import Logging
import MetricsTestKit
import Testing

/// The split-brain guard across a fleet: two registries (two workers) on one store, each with only the events it
/// received. The store's answer, on the store's clock, is the last word before a missing-VM verdict.
@Suite("Skip registry on a shared store")
struct SkipRegistrySharedStoreTests {
    typealias F = SkipFixture

    struct Fleet {
        let storeClock = RegistryTestWallClock()
        let store: SQLiteInventory
        let a: SkipRegistry
        let b: SkipRegistry
        let metrics = TestMetrics()

        init(sharesStore: Bool = true) throws {
            let storeClock = self.storeClock
            store = try SQLiteInventory.inMemory(clock: { storeClock.now() })
            a = F.registry(clock: ManualClock(), store: store, sharesStore: sharesStore)
            b = F.registry(clock: ManualClock(), store: store, sharesStore: sharesStore, metrics: metrics)
        }
    }

    @Test("a skip received only by worker A protects the VM when worker B is about to call it missing")
    func skipAtAProtectsAtB() async throws {
        let fleet = try Fleet()
        let v = F.vm(1)
        await fleet.a.recordSkip(F.skip(v, from: F.nodeX, apiId: "api-1"))
        // B's memory knows nothing of it; its snapshots would let the tracer judge V.
        let mark = await fleet.b.beginRound()
        #expect(await fleet.b.skipped(among: [v], since: mark).isEmpty)
        await fleet.b.endRound(mark)
        #expect(await !fleet.b.isOrphanSkipped(v))
        #expect(await fleet.b.protectedFleetWide([v, F.vm(2)]) == [v])
        // The continue reaches A only: the store row goes, and B may judge V again.
        await fleet.a.recordContinue(F.proceed(nil, from: F.nodeX, apiId: "api-1"))
        #expect(await fleet.b.protectedFleetWide([v]).isEmpty)
    }

    @Test("an orphan recorded by A protects at B until the TTL on the store's clock, then reads as expired recently")
    func orphanTtlOnTheStoreClock() async throws {
        let fleet = try Fleet()
        let v = F.vm(1)
        await fleet.a.recordSkip(F.skip(v, from: F.nodeX))
        await fleet.a.nodeLeft(F.nodeX)
        #expect(await fleet.b.protectedFleetWide([v]) == [v])
        #expect(await !fleet.b.orphanExpiredRecently(v))
        // Only the store's clock moves (the workers' monotonic clocks do not): the store decides the age.
        fleet.storeClock.advance(by: .seconds(599))
        #expect(await fleet.b.protectedFleetWide([v]) == [v])
        fleet.storeClock.advance(by: .seconds(1))
        #expect(await fleet.b.protectedFleetWide([v]).isEmpty)
        #expect(await fleet.b.orphanExpiredRecently(v), "B never had the orphan; the store says it just expired")
        // Past the TTL plus the expiry window (600 s + 600 s) it is old news.
        fleet.storeClock.advance(by: .seconds(600))
        #expect(await !fleet.b.orphanExpiredRecently(v))
    }

    @Test("a store that does not answer holds the verdicts: every VM protected, expiry treated as recent, counted")
    func unreadableStoreHoldsVerdicts() async throws {
        let store = FlakySkipStore(try SQLiteInventory.inMemory())
        let metrics = TestMetrics()
        let registry = F.registry(clock: ManualClock(), store: store, sharesStore: true, metrics: metrics)
        store.failing = true
        #expect(await registry.protectedFleetWide([F.vm(1), F.vm(2)]) == [F.vm(1), F.vm(2)])
        #expect(await registry.orphanExpiredRecently(F.vm(1)))
        #expect(try metrics.expectCounter("cloudbus_worker_skip_registry_shared_check_failures_total").totalValue == 2)
    }

    @Test("a registry whose store is its own (one worker on SQLite) asks it nothing")
    func unsharedStoreIsNotAsked() async throws {
        let fleet = try Fleet(sharesStore: false)
        await fleet.a.recordSkip(F.skip(F.vm(1), from: F.nodeX))
        #expect(await fleet.b.protectedFleetWide([F.vm(1)]).isEmpty)
        #expect(await !fleet.b.orphanExpiredRecently(F.vm(1)))
    }

    @Test("an orphan expired in A's memory keeps its row, so B still learns that it expired recently")
    func expiryInMemoryKeepsTheRow() async throws {
        let clock = ManualClock()
        let storeClock = RegistryTestWallClock()
        let store = try SQLiteInventory.inMemory(clock: { storeClock.now() })
        let a = F.registry(clock: clock, store: store, sharesStore: true)
        let b = F.registry(clock: ManualClock(), store: store, sharesStore: true)
        let v = F.vm(1)
        await a.recordSkip(F.skip(v, from: F.nodeX))
        await a.nodeLeft(F.nodeX)
        clock.advance(by: .seconds(600))
        storeClock.advance(by: .seconds(600))
        #expect(await !a.isOrphanSkipped(v))
        await a.cleanup()
        await a.flush()
        #expect(try await store.loadSkipRegistry().orphans.map(\.vmUuid) == [v])
        #expect(await b.orphanExpiredRecently(v))
    }
}
