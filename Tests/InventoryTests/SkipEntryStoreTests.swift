import Foundation
import GRDB
@testable import Inventory
import Primitives
import Synchronization
import Testing

@Suite("Skip entry store")
struct SkipEntryStoreTests {
    let nodeX = "11111111111111111111111111111111"
    let nodeY = "22222222222222222222222222222222"

    @Test func migrationCreatesTheSkipTablesAndStartsEmpty() async throws {
        do {
            let inventory = try SQLiteInventory.inMemory()
            #expect(try await inventory.appliedMigrations().contains("v2-skip-registry"))
            let tables = try await inventory.database.read {
                try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'skip_%'")
            }
            #expect(Set(tables) == ["skip_entries", "skip_api_ids", "skip_orphans", "skip_departed_nodes"])
            #expect(try await inventory.loadSkipRegistry().isEmpty)
        }
    }

    @Test(arguments: StoreBackend.available) func changesApplyInOrderAndLoadSorted(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let written = ContinuousClock.now
            try await inventory.applySkipChanges([
                .operations(nodeId: nodeY, vmUuid: vmUuid(2), count: 1),
                .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 1),
                .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 2),
                .apiId(nodeId: nodeX, apiId: "api-1", vmUuid: vmUuid(1)),
                .orphan(vmUuid: vmUuid(3), ageMillis: 90_000),
                .orphan(vmUuid: vmUuid(3), ageMillis: 30_000),
                .departed(nodeId: nodeY, ageMillis: 45_000),
            ])
            let loaded = try await inventory.loadSkipRegistry()
            // What the store's clock can have moved between the write and the read, in whole milliseconds (one more
            // for the part of a millisecond that truncation drops, one for the store's own).
            let passed = (ContinuousClock.now - written).inMilliseconds + 2
            #expect(loaded.entries == [
                SkipEntryRecord(nodeId: nodeX, vmUuid: vmUuid(1), operations: 2),
                SkipEntryRecord(nodeId: nodeY, vmUuid: vmUuid(2), operations: 1),
            ])
            #expect(loaded.apiIds == [SkipApiRecord(nodeId: nodeX, apiId: "api-1", vmUuid: vmUuid(1))])
            // Ages on the store's own clock: the written age plus what passed between the write and the read (a
            // fixed 10 s of room was overrun once by a loaded parallel run).
            #expect(loaded.orphans.map(\.vmUuid) == [vmUuid(3)])
            #expect((30_000...30_000 + passed).contains(try #require(loaded.orphans.first).ageMillis))
            #expect(loaded.departedNodes.map(\.nodeId) == [nodeY])
            #expect((45_000...45_000 + passed).contains(try #require(loaded.departedNodes.first).ageMillis))
        }
    }

    @Test(arguments: StoreBackend.available) func removalsAndZeroCountsDeleteRows(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.applySkipChanges([
                .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 1),
                .operations(nodeId: nodeX, vmUuid: vmUuid(2), count: 3),
                .operations(nodeId: nodeY, vmUuid: vmUuid(2), count: 1),
                .apiId(nodeId: nodeX, apiId: "api-1", vmUuid: vmUuid(1)),
                .apiId(nodeId: nodeX, apiId: "api-2", vmUuid: vmUuid(2)),
                .orphan(vmUuid: vmUuid(3), ageMillis: 0),
                .departed(nodeId: nodeY, ageMillis: 0),
            ])
            try await inventory.applySkipChanges([
                .operations(nodeId: nodeY, vmUuid: vmUuid(2), count: 0),
                .removeApiId(nodeId: nodeX, apiId: "api-2"),
                .removeOrphan(vmUuid: vmUuid(3)),
                .rejoined(nodeId: nodeY),
            ])
            var loaded = try await inventory.loadSkipRegistry()
            #expect(loaded.entries.map(\.nodeId) == [nodeX, nodeX])
            #expect(loaded.apiIds.map(\.apiId) == ["api-1"])
            #expect(loaded.orphans.isEmpty && loaded.departedNodes.isEmpty)
            try await inventory.applySkipChanges([.removeNode(nodeId: nodeX)])
            loaded = try await inventory.loadSkipRegistry()
            #expect(loaded.isEmpty)
        }
    }

    @Test(arguments: StoreBackend.available) func applyingTheSameChangesTwiceLeavesTheSameRows(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let changes: [SkipEntryChange] = [
                .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 2),
                .apiId(nodeId: nodeX, apiId: "api-1", vmUuid: vmUuid(1)),
                .orphan(vmUuid: vmUuid(2), ageMillis: 5_000),
                .removeOrphan(vmUuid: vmUuid(9)),
            ]
            try await inventory.applySkipChanges(changes)
            let once = try await inventory.loadSkipRegistry()
            try await inventory.applySkipChanges(changes)
            let twice = try await inventory.loadSkipRegistry()
            #expect(twice.entries == once.entries && twice.apiIds == once.apiIds)
            #expect(twice.orphans.map(\.vmUuid) == once.orphans.map(\.vmUuid))
        }
    }

    @Test func aFailingChangeRollsBackTheWholeBatch() async throws {
        do {
            let inventory = try SQLiteInventory.inMemory()
            try await inventory.database.write { try $0.execute(sql: "DROP TABLE skip_departed_nodes") }
            await #expect(throws: InventoryError.self) {
                try await inventory.applySkipChanges([
                    .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 1),
                    .departed(nodeId: nodeY, ageMillis: 0),
                ])
            }
            let count = try await inventory.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM skip_entries") }
            #expect(count == 0)
        }
    }

    @Test func agesAreTheStoreClocksAndSurviveReopen() async throws {
        try await withTemporaryDatabasePath { path in
            let clock = TestStoreClock()
            do {
                let inventory = try SQLiteInventory(path: path, clock: clock.read)
                try await inventory.applySkipChanges([
                    .orphan(vmUuid: vmUuid(5), ageMillis: 9_000),
                    .departed(nodeId: nodeX, ageMillis: 7),
                ])
            }
            clock.advance(millis: 1_000)
            let reopened = try SQLiteInventory(path: path, clock: clock.read)
            #expect(try await reopened.loadSkipRegistry() == SkipRegistrySnapshot(
                orphans: [OrphanRecord(vmUuid: vmUuid(5), ageMillis: 10_000)],
                departedNodes: [DepartedNodeRecord(nodeId: nodeX, ageMillis: 1_007)]))
            // A row stamped in the clock's future (the clock stepped back) loads as age 0, never negative.
            clock.advance(millis: -60_000)
            #expect(try await reopened.loadSkipRegistry().orphans == [OrphanRecord(vmUuid: vmUuid(5), ageMillis: 0)])
        }
    }

    @Test func sharedStatesFollowTheTimeoutAndTheExpiryWindowOnTheStoreClock() async throws {
        let clock = TestStoreClock()
        let inventory = try SQLiteInventory.inMemory(clock: clock.read)
        try await inventory.applySkipChanges([
            .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 1),
            .orphan(vmUuid: vmUuid(2), ageMillis: 0),
        ])
        let vms = [vmUuid(1), vmUuid(2), vmUuid(3)]
        func states() async throws -> [String: SharedSkipState] {
            try await inventory.sharedSkipStates(of: vms, orphanTimeoutMillis: 600_000, expiryWindowMillis: 120_000)
        }
        #expect(try await states() == [vmUuid(1): .skipped, vmUuid(2): .skipped])
        clock.advance(millis: 599_999)
        #expect(try await states()[vmUuid(2)] == .skipped)
        clock.advance(millis: 1)
        #expect(try await states()[vmUuid(2)] == .orphanExpiredRecently)
        clock.advance(millis: 119_999)
        #expect(try await states()[vmUuid(2)] == .orphanExpiredRecently)
        clock.advance(millis: 1)
        #expect(try await states() == [vmUuid(1): .skipped])
        // Forgetting deletes rows at least that old; a continue deletes at once.
        try await inventory.applySkipChanges([.forgetOrphans(olderThanMillis: 720_000)])
        #expect(try await inventory.loadSkipRegistry().orphans.isEmpty)
        try await inventory.applySkipChanges([.operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 0)])
        #expect(try await states().isEmpty)
    }

    @Test(arguments: StoreBackend.available)
    func sharedStatesAnswerForEveryWriter(_ backend: StoreBackend) async throws {
        try await backend.withDatabase { database in
            // Two workers on one store: what one wrote, the other's question sees (one round trip for many VMs).
            let writer = try await database.open()
            let reader = try await database.open()
            try await writer.applySkipChanges([
                .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 2),
                .orphan(vmUuid: vmUuid(2), ageMillis: 0),
                .orphan(vmUuid: vmUuid(3), ageMillis: 700_000),
                .orphan(vmUuid: vmUuid(4), ageMillis: 2_000_000),
            ])
            let states = try await reader.sharedSkipStates(
                of: (1...5).map { vmUuid($0) }, orphanTimeoutMillis: 600_000, expiryWindowMillis: 600_000)
            #expect(states == [vmUuid(1): .skipped, vmUuid(2): .skipped, vmUuid(3): .orphanExpiredRecently])
            #expect(try await reader.sharedSkipStates(of: [], orphanTimeoutMillis: 1, expiryWindowMillis: 1).isEmpty)
            try await reader.applySkipChanges([.forgetOrphans(olderThanMillis: 1_200_000)])
            #expect(try await writer.loadSkipRegistry().orphans.map(\.vmUuid) == [vmUuid(2), vmUuid(3)])
        }
    }

    @Test(arguments: StoreBackend.available) func skipRowsNeedNoVmInTheInventory(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.applySkipChanges([.operations(nodeId: nodeX, vmUuid: vmUuid(42), count: 1)])
            #expect(try await inventory.vm(uuid: vmUuid(42)) == nil)
            #expect(try await inventory.loadSkipRegistry().entries.count == 1)
        }
    }
}

/// A store clock in epoch milliseconds that a test moves by hand.
final class TestStoreClock: Sendable {
    private let millis = Mutex<Int64>(1_764_000_000_000)
    var read: @Sendable () -> Int64 { { [self] in millis.withLock { $0 } } }
    func advance(millis delta: Int64) { millis.withLock { $0 += delta } }
}
