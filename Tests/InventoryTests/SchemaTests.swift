import Foundation
import GRDB
@testable import Inventory
import Testing

extension StoreBackend {
    /// Every migration a fresh store has applied, in order. The two schemas share names up to v8; SQLite's answer
    /// log (v9) has no PostgreSQL counterpart (the shared store keeps its id index: every worker looks ids up there).
    var migrations: [String] {
        let shared = ["v1", "v2-skip-registry", "v2-vm-nics", "v3-zbs", "v4-vms-covering-expected", "v5-answered-messages", "v6-outbox", "v7-members", "v8-delivery-attempts"]
        return switch self {
        case .sqlite, .sqliteFile: shared + ["v9-answer-log"]
        case .postgres: shared
        }
    }
}

@Suite("Schema and migrations")
struct SchemaTests {
    @Test(arguments: StoreBackend.available) func freshInMemoryDatabaseIsFullyMigrated(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            #expect(try await inventory.appliedMigrations() == backend.migrations)
            if let sqlite = inventory as? SQLiteInventory { #expect(sqlite.path == nil) }
            #expect(try await inventory.hosts().isEmpty)
            #expect(try await inventory.expectedVms(onHost: hostUuid(1)).isEmpty)
        }
    }

    @Test func freshFileDatabaseIsMigratedInWALMode() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("inventory.sqlite").path
            let inventory = try SQLiteInventory(path: path)
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(try await inventory.appliedMigrations() == StoreBackend.sqlite.migrations)
            let mode = try await inventory.database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
            // FULL (2), not the NORMAL (1) GRDB sets with WAL mode: a commit the worker acks after is on disk.
            let synchronous = try await inventory.database.writeWithoutTransaction {
                try Int.fetchOne($0, sql: "PRAGMA synchronous")
            }
            #expect(synchronous == 2)
            let tables = try await inventory.database.read {
                try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            }
            #expect(tables.contains("hosts") && tables.contains("vms") && tables.contains("vm_device_addresses"))
        }
    }

    @Test func fileDatabaseKeepsDataAcrossReopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("inventory.sqlite").path
            let stopped = VmRecord(uuid: vmUuid(2), state: .stopped, lastHostUuid: hostUuid(1))
            do {
                let inventory = try SQLiteInventory(path: path)
                try await inventory.upsertHosts([host(1)])
                try await inventory.upsertVms([
                    VmRecord(uuid: vmUuid(1), state: .running, hostUuid: hostUuid(1)), stopped,
                ])
                try await inventory.updateHostStatus(uuid: hostUuid(1), to: .disconnected)
            }
            let reopened = try SQLiteInventory(path: path)
            #expect(try await reopened.appliedMigrations() == StoreBackend.sqlite.migrations)
            var expectedHost = host(1)
            expectedHost.status = .disconnected
            #expect(try await reopened.host(uuid: hostUuid(1)) == expectedHost)
            #expect(try await reopened.expectedVms(onHost: hostUuid(1)).map(\.uuid) == [vmUuid(1), vmUuid(2)])
            #expect(try await reopened.vm(uuid: vmUuid(2)) == stopped)
        }
    }

    @Test("v9 turns the answered-message table into an append-only log and keeps the window in answer order")
    func answerLogMigrationKeepsTheWindow() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("inventory.sqlite").path
            do {
                // A file as the previous build left it: migrated up to v8, a re-answered id REPLACEd to the end.
                let pool = try DatabasePool(path: path)
                try SQLiteSchema.migrator.migrate(pool, upTo: "v8-delivery-attempts")
                try await pool.write { db in
                    for (id, reply) in [("a", "1"), ("b", "2"), ("c", "3"), ("a", "4")] {
                        try db.execute(sql: """
                            INSERT OR REPLACE INTO answered_messages (id, reply, answeredAt) VALUES (?, ?, 7)
                            """, arguments: [String(repeating: id, count: 32), Data(reply.utf8)])
                    }
                }
            }
            let inventory = try SQLiteInventory(path: path)
            #expect(try await inventory.appliedMigrations() == StoreBackend.sqlite.migrations)
            let window = try await inventory.loadAnsweredMessages(limit: 10)
            #expect(window.map { String($0.id.prefix(1)) } == ["b", "c", "a"])
            #expect(window.map { String(decoding: $0.reply ?? [], as: UTF8.self) } == ["2", "3", "4"])
            let indexes = try await inventory.database.read {
                try String.fetchAll($0, sql: """
                    SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'answered_messages'
                    """)
            }
            #expect(indexes.isEmpty, "an index on random ids is what the log removes")
        }
    }

    @Test func databaseMigratedByANewerBuildIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("inventory.sqlite").path
            do {
                let inventory = try SQLiteInventory(path: path)
                try await inventory.database.write {
                    try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
                }
            }
            #expect {
                _ = try SQLiteInventory(path: path)
            } throws: { error in
                guard case InventoryError.storage(let operation, let failedPath, _) = error else { return false }
                return operation == "migrate" && failedPath == path
            }
        }
    }

    @Test func openingInAMissingDirectoryNamesThePath() throws {
        let path = "/nonexistent-\(UUID().uuidString)/inventory.sqlite"
        #expect {
            _ = try SQLiteInventory(path: path)
        } throws: { error in
            guard case InventoryError.storage(let operation, let failedPath, _) = error else { return false }
            return operation == "open" && failedPath == path
        }
    }

    /// The hot reads must stay index lookups as the schema evolves: a full scan of `vms` on every host ping
    /// would go unnoticed in small tests and hurt at 100,000 VMs.
    @Test func hotReadsUseIndexesNotScans() async throws {
        do {
            let inventory = try SQLiteInventory.inMemory()
            let plans = try await inventory.database.read { db in
                let hostPlan = try Row.fetchAll(
                    db, sql: "EXPLAIN QUERY PLAN " + SQLiteRows.selectHost,
                    arguments: [hostUuid(1)])
                let vmPlan = try Row.fetchAll(
                    db, sql: "EXPLAIN QUERY PLAN " + SQLiteInventory.expectedVmsSQL(excludedTypeCount: 2),
                    arguments: [hostUuid(1), hostUuid(1), "ApplianceVm", "X"])
                return (hostPlan.map { $0["detail"] as String }, vmPlan.map { $0["detail"] as String })
            }
            #expect(plans.0.contains { $0.hasPrefix("SEARCH hosts USING PRIMARY KEY") }, "\(plans.0)")
            #expect(!plans.1.contains { $0.hasPrefix("SCAN vms") }, "\(plans.1)")
            #expect(plans.1.contains { $0.contains("COVERING INDEX vms_expected_on_host ") }, "\(plans.1)")
            #expect(plans.1.contains { $0.contains("COVERING INDEX vms_expected_on_last_host ") }, "\(plans.1)")
            #expect(!plans.1.contains { $0.contains("TEMP B-TREE") }, "\(plans.1)")
        }
    }
}
