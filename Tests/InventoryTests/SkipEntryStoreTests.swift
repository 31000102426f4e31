import Foundation
import GRDB
@testable import Inventory
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
            try await inventory.applySkipChanges([
                .operations(nodeId: nodeY, vmUuid: vmUuid(2), count: 1),
                .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 1),
                .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 2),
                .apiId(nodeId: nodeX, apiId: "api-1", vmUuid: vmUuid(1)),
                .orphan(vmUuid: vmUuid(3), epochMillis: 1_000),
                .orphan(vmUuid: vmUuid(3), epochMillis: 2_000),
                .departed(nodeId: nodeY, epochMillis: 1_500),
            ])
            let loaded = try await inventory.loadSkipRegistry()
            #expect(loaded.entries == [
                SkipEntryRecord(nodeId: nodeX, vmUuid: vmUuid(1), operations: 2),
                SkipEntryRecord(nodeId: nodeY, vmUuid: vmUuid(2), operations: 1),
            ])
            #expect(loaded.apiIds == [SkipApiRecord(nodeId: nodeX, apiId: "api-1", vmUuid: vmUuid(1))])
            #expect(loaded.orphans == [OrphanRecord(vmUuid: vmUuid(3), orphanedAtEpochMillis: 2_000)])
            #expect(loaded.departedNodes == [DepartedNodeRecord(nodeId: nodeY, leftAtEpochMillis: 1_500)])
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
                .orphan(vmUuid: vmUuid(3), epochMillis: 1),
                .departed(nodeId: nodeY, epochMillis: 1),
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
                .orphan(vmUuid: vmUuid(2), epochMillis: 5),
                .removeOrphan(vmUuid: vmUuid(9)),
            ]
            try await inventory.applySkipChanges(changes)
            let once = try await inventory.loadSkipRegistry()
            try await inventory.applySkipChanges(changes)
            #expect(try await inventory.loadSkipRegistry() == once)
        }
    }

    @Test func aFailingChangeRollsBackTheWholeBatch() async throws {
        do {
            let inventory = try SQLiteInventory.inMemory()
            try await inventory.database.write { try $0.execute(sql: "DROP TABLE skip_departed_nodes") }
            await #expect(throws: InventoryError.self) {
                try await inventory.applySkipChanges([
                    .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 1),
                    .departed(nodeId: nodeY, epochMillis: 1),
                ])
            }
            let count = try await inventory.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM skip_entries") }
            #expect(count == 0)
        }
    }

    @Test func replaceSwapsEverythingAndSurvivesReopen() async throws {
        try await withTemporaryDatabasePath { path in
            do {
                let inventory = try SQLiteInventory(path: path)
                try await inventory.applySkipChanges([
                    .operations(nodeId: nodeX, vmUuid: vmUuid(1), count: 1),
                    .orphan(vmUuid: vmUuid(5), epochMillis: 9),
                ])
                try await inventory.replaceSkipRegistry(with: SkipRegistrySnapshot(
                    entries: [SkipEntryRecord(nodeId: nodeY, vmUuid: vmUuid(2), operations: 4)],
                    apiIds: [SkipApiRecord(nodeId: nodeY, apiId: "api-9", vmUuid: vmUuid(2))],
                    orphans: [OrphanRecord(vmUuid: vmUuid(3), orphanedAtEpochMillis: 1_764_000_000_000)],
                    departedNodes: [DepartedNodeRecord(nodeId: nodeX, leftAtEpochMillis: 7)]))
            }
            let reopened = try SQLiteInventory(path: path)
            #expect(try await reopened.loadSkipRegistry() == SkipRegistrySnapshot(
                entries: [SkipEntryRecord(nodeId: nodeY, vmUuid: vmUuid(2), operations: 4)],
                apiIds: [SkipApiRecord(nodeId: nodeY, apiId: "api-9", vmUuid: vmUuid(2))],
                orphans: [OrphanRecord(vmUuid: vmUuid(3), orphanedAtEpochMillis: 1_764_000_000_000)],
                departedNodes: [DepartedNodeRecord(nodeId: nodeX, leftAtEpochMillis: 7)]))
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
