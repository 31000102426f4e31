import CloudBus
import CloudBusTesting
import Foundation
import Inventory
@testable import KVM
import LiveSettings
import Logging
import Metrics
import MetricsTestKit
import Synchronization
import Testing

/// Write-through to the inventory and the reload after a worker restart (beyond the original, whose map lived in
/// memory only: scenario 38's limitation is lifted).
@Suite("Skip registry persistence")
struct SkipRegistryPersistenceTests {
    typealias F = SkipFixture

    private func withDatabasePath<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("skip-registry-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory.appendingPathComponent("inventory.sqlite").path)
    }

    private func open(
        _ store: any SkipEntryStore, clock: ManualClock,
        timeout: LiveSetting<Duration> = F.timeout(), metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) async throws -> SkipRegistry {
        try await SkipRegistry.open(
            ownNode: F.own, timeout: timeout, store: store, clock: clock, metrics: metrics, logger: Logger.quiet)
    }

    @Test("scenario 38 (beyond the original): entries, API ids, orphans and departed nodes survive a restart")
    func restartKeepsState() async throws {
        try await withDatabasePath { path in
            let wall = RegistryTestWallClock()
            do {
                let registry = try await open(try SQLiteInventory(path: path, clock: { wall.now() }), clock: ManualClock())
                await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX, apiId: "api-1"))
                await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX))
                await registry.recordSkip(F.skip(F.vm(2), from: F.nodeY))
                await registry.nodeLeft(F.nodeY)
                await registry.flush()
            }
            wall.advance(by: .seconds(100))
            let clock = ManualClock()
            let restarted = try await open(try SQLiteInventory(path: path, clock: { wall.now() }), clock: clock)
            #expect(await restarted.nodes[F.nodeX]?.operations == [F.vm(1): 2])
            #expect(await restarted.nodes[F.nodeX]?.apiVms == ["api-1": F.vm(1)])
            // The orphan is 100 s old at the restart (the new monotonic clock counts from the restart).
            #expect(await restarted.orphans == [F.vm(2): .seconds(-100)])
            // Y is still known to have left: its late skip becomes an orphan.
            #expect(await restarted.recordSkip(F.skip(F.vm(3), from: F.nodeY)) == .orphanedLateSkip)
            // The continue by API id still resolves after the restart.
            #expect(await restarted.recordContinue(F.proceed(nil, from: F.nodeX, apiId: "api-1")).vmUuid == F.vm(1))
        }
    }

    @Test("entries recorded under this worker's own node become orphans when it restarts")
    func ownEntriesBecomeOrphans() async throws {
        try await withDatabasePath { path in
            let wall = RegistryTestWallClock()
            do {
                let registry = try await open(try SQLiteInventory(path: path, clock: { wall.now() }), clock: ManualClock())
                await registry.recordSkip(F.skip(F.vm(1), from: F.own, apiId: "api-own"))
                await registry.flush()
            }
            wall.advance(by: .seconds(30))
            let clock = ManualClock()
            let restarted = try await open(try SQLiteInventory(path: path, clock: { wall.now() }), clock: clock)
            #expect(await restarted.nodes[F.own] == nil)
            #expect(await restarted.orphans == [F.vm(1): .zero])
            #expect(await restarted.isOrphanSkipped(F.vm(1)))
            // The conversion was written through: a second restart sees the orphan (aged), not the entry.
            await restarted.flush()
            wall.advance(by: .seconds(10))
            let again = try await open(try SQLiteInventory(path: path, clock: { wall.now() }), clock: ManualClock())
            #expect(await again.orphans == [F.vm(1): .seconds(-10)])
            #expect(await again.status().operations == 0)
        }
    }

    @Test("an orphan's TTL runs on across the restart and expires on time")
    func ageCarriesOver() async throws {
        try await withDatabasePath { path in
            let wall = RegistryTestWallClock()
            do {
                let registry = try await open(try SQLiteInventory(path: path, clock: { wall.now() }), clock: ManualClock())
                await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX))
                await registry.nodeLeft(F.nodeX)
                await registry.flush()
            }
            wall.advance(by: .seconds(500))
            let clock = ManualClock()
            let restarted = try await open(try SQLiteInventory(path: path, clock: { wall.now() }), clock: clock)
            clock.advance(by: .seconds(99))
            #expect(await restarted.isOrphanSkipped(F.vm(1)))
            clock.advance(by: .seconds(1))
            #expect(await !restarted.isOrphanSkipped(F.vm(1)))
            await restarted.flush()
            // The expired row stays: its age on the store's clock tells every worker the orphan expired recently.
            let store = try SQLiteInventory(path: path, clock: { wall.now() })
            #expect(try await store.loadSkipRegistry().orphans == [OrphanRecord(vmUuid: F.vm(1), ageMillis: 500_000)])
            #expect(try await store.sharedSkipStates(
                of: [F.vm(1)], orphanTimeoutMillis: 600_000, expiryWindowMillis: 600_000) == [F.vm(1): .skipped])
            wall.advance(by: .seconds(100))
            #expect(try await store.sharedSkipStates(
                of: [F.vm(1)], orphanTimeoutMillis: 600_000, expiryWindowMillis: 600_000)
                == [F.vm(1): .orphanExpiredRecently])
            // Cleanup forgets it once it is older than the TTL plus the window (600 s + 600 s).
            wall.advance(by: .seconds(601))
            await restarted.cleanup()
            #expect(try await store.loadSkipRegistry().orphans.isEmpty)
        }
    }

    @Test("a failing store is counted, memory keeps protecting, and the next write redoes only the rows it touched")
    func failingStore() async throws {
        let store = FlakySkipStore(try SQLiteInventory.inMemory())
        let metrics = TestMetrics()
        let clock = ManualClock()
        let registry = try await open(store, clock: clock, metrics: metrics)
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX))
        store.failing = true
        await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX))
        await registry.nodeLeft(F.nodeX)
        #expect(try metrics.expectCounter("cloudbus_worker_skip_registry_store_failures_total").totalValue >= 1)
        #expect(await registry.isOrphanSkipped(F.vm(2)))
        // Meanwhile another worker of the fleet records a skip this one never received: the repair must keep it.
        let other = SkipEntryRecord(nodeId: F.nodeY, vmUuid: F.vm(7), operations: 1)
        try await store.inner.applySkipChanges([.operations(nodeId: other.nodeId, vmUuid: other.vmUuid, count: 1)])
        store.failing = false
        await registry.recordSkip(F.skip(F.vm(3), from: F.nodeY))
        let stored = try await store.loadSkipRegistry()
        #expect(stored.orphans.map(\.vmUuid).sorted() == [F.vm(1), F.vm(2)])
        #expect(stored.entries == [
            SkipEntryRecord(nodeId: F.nodeY, vmUuid: F.vm(3), operations: 1), other,
        ])
        #expect(stored.departedNodes.map(\.nodeId) == [F.nodeX])
        #expect(store.repairs == 1)
    }

    @Test("a lost continue is redone as a delete, a lost skip as its current count")
    func repairWritesCurrentValues() async throws {
        let store = FlakySkipStore(try SQLiteInventory.inMemory())
        let registry = try await open(store, clock: ManualClock())
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX, apiId: "api-1"))
        await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX))
        store.failing = true
        await registry.recordContinue(F.proceed(nil, from: F.nodeX, apiId: "api-1"))
        await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX))
        store.failing = false
        await registry.flush()
        let stored = try await store.loadSkipRegistry()
        #expect(stored.entries == [SkipEntryRecord(nodeId: F.nodeX, vmUuid: F.vm(2), operations: 2)])
        #expect(stored.apiIds.isEmpty)
    }

    @Test("a store that cannot be read stops the registry from opening")
    func unreadableStore() async throws {
        let store = FlakySkipStore(try SQLiteInventory.inMemory())
        store.failing = true
        await #expect(throws: InventoryError.self) {
            _ = try await open(store, clock: ManualClock())
        }
    }
}

/// The real store, made to fail on demand.
final class FlakySkipStore: SkipEntryStore {
    let inner: SQLiteInventory
    private let state = Mutex((failing: false, failed: false, repairs: 0))

    init(_ inner: SQLiteInventory) { self.inner = inner }

    var failing: Bool {
        get { state.withLock { $0.failing } }
        set { state.withLock { $0.failing = newValue } }
    }

    /// Batches applied after a failure (the registry's repair is the first write that follows one).
    var repairs: Int { state.withLock { $0.repairs } }

    private func check(_ operation: String) throws {
        let failing = state.withLock { state in
            if state.failing {
                state.failed = true
            } else if state.failed, operation == "applySkipChanges" {
                state.failed = false
                state.repairs += 1
            }
            return state.failing
        }
        if failing { throw InventoryError.storage(operation: operation, path: nil, reason: "disk full (test)") }
    }

    func loadSkipRegistry() async throws -> SkipRegistrySnapshot {
        try check("loadSkipRegistry")
        return try await inner.loadSkipRegistry()
    }

    func applySkipChanges(_ changes: [SkipEntryChange]) async throws {
        try check("applySkipChanges")
        try await inner.applySkipChanges(changes)
    }

    func sharedSkipStates(
        of vmUuids: [String], orphanTimeoutMillis: Int64, expiryWindowMillis: Int64
    ) async throws -> [String: SharedSkipState] {
        try check("sharedSkipStates")
        return try await inner.sharedSkipStates(
            of: vmUuids, orphanTimeoutMillis: orphanTimeoutMillis, expiryWindowMillis: expiryWindowMillis)
    }
}
