import CloudBusTesting
import Foundation
import Inventory
import InventoryPostgres
import Testing

/// What a store shared by several workers promises beyond one worker's: no lost update between two workers, each
/// worker's outbox its own, one migrator, and clear errors for a URL, a login or a server that is wrong.
@Suite("Shared store (PostgreSQL)", .enabled(if: StoreBackend.postgresSettings != nil))
struct SharedStoreTests {
    let worker1 = "c0000000000000000000000000000001"
    let worker2 = "c0000000000000000000000000000002"

    @Test("two workers changing one VM at once lose no update (the row is locked for the read-modify-write)")
    func noLostUpdateAcrossWorkers() async throws {
        try await StoreBackend.postgres.withDatabase { database in
            let first = try await database.open(owner: worker1)
            let second = try await database.open(owner: worker2)
            try await first.upsertVms([VmRecord(uuid: vmUuid(1), state: .running, clusterUuid: clusterUuid(0))])
            // Each update reads the VM's cluster number and writes the next one: a lost update shows as a count
            // short of the number of updates.
            let updates = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<updates {
                    let store = index.isMultiple(of: 2) ? first : second
                    group.addTask {
                        _ = try await store.updateVm(uuid: vmUuid(1)) { vm in
                            let number = Int(vm.clusterUuid?.dropFirst() ?? "0", radix: 16) ?? -1000
                            vm.clusterUuid = clusterUuid(number + 1)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await second.vm(uuid: vmUuid(1))?.clusterUuid == clusterUuid(updates))
        }
    }

    @Test("a worker sees and removes only its own outbox rows")
    func outboxRowsBelongToTheirWorker() async throws {
        try await StoreBackend.postgres.withDatabase { database in
            let first = try await database.open(owner: worker1)
            let second = try await database.open(owner: worker2)
            try await first.upsertVms([VmRecord(uuid: vmUuid(1), state: .starting, hostUuid: hostUuid(1))])
            let message = OutboxMessage(target: .event(routingKey: "key.event.LOCAL.canonicalEvent"), body: [1, 2])
            let (_, rows) = try await first.updateVm(uuid: vmUuid(1), outboxKey: vmUuid(1), { $0.state = .running },
                                                     messages: { _ in [message] })
            #expect(try await first.pendingOutbox(key: nil) == rows)
            #expect(try await second.pendingOutbox(key: nil).isEmpty)
            #expect(try await second.pendingOutboxKeys().isEmpty)
            try await second.removeOutbox(seqs: rows.map(\.seq))
            #expect(try await first.pendingOutbox(key: nil) == rows, "another worker's confirm must not remove the row")
            try await first.removeOutbox(seqs: rows.map(\.seq))
            #expect(try await first.pendingOutbox(key: nil).isEmpty)
        }
    }

    @Test("an answer one worker recorded is found by another (the dedupe window is the fleet's)")
    func answersAreShared() async throws {
        try await StoreBackend.postgres.withDatabase { database in
            let first = try await database.open(owner: worker1)
            let second = try await database.open(owner: worker2)
            let answer = AnsweredMessage(id: uuid(7, kind: 0xd), reply: Array("reply".utf8), answeredAtEpochMillis: 5)
            try await first.recordAnsweredMessages([answer], keepingLast: 10)
            #expect(try await second.answeredMessage(id: answer.id) == answer)
        }
    }

    @Test("workers starting together on a new database migrate it once")
    func concurrentStartsMigrateOnce() async throws {
        try await StoreBackend.postgres.withDatabase { database in
            let stores = try await withThrowingTaskGroup(of: (any InventoryBackend).self) { group in
                for index in 0..<4 { group.addTask { try await database.open(owner: uuid(index, kind: 0xc)) } }
                var stores: [any InventoryBackend] = []
                for try await store in group { stores.append(store) }
                return stores
            }
            for store in stores {
                #expect(try await store.appliedMigrations() == StoreBackend.postgres.migrations)
            }
        }
    }

    @Test("a database migrated by a newer build is refused, naming the unknown migration")
    func newerSchemaIsRefused() async throws {
        try await StoreBackend.postgres.withDatabase { database in
            let store = try await database.open()
            let schema = try #require((store as? PostgresInventory)?.settings.schema)
            try await StoreBackend.administer(
                "INSERT INTO cloudbus_migrations (name, applied_order) VALUES ('v99-from-the-future', 99)",
                schema: schema)
            let error = await #expect(throws: InventoryError.self) { _ = try await database.open() }
            guard case .storage(let operation, _, let reason)? = error else {
                Issue.record("expected a storage error, got \(String(describing: error))")
                return
            }
            #expect(operation == "migrate")
            #expect(reason.contains("v99-from-the-future"), "\(reason)")
        }
    }

    @Test("a failing statement rolls the whole batch back")
    func aFailingChangeRollsBackTheWholeBatch() async throws {
        try await StoreBackend.postgres.withDatabase { database in
            let store = try await database.open()
            let schema = try #require((store as? PostgresInventory)?.settings.schema)
            try await StoreBackend.administer("DROP TABLE skip_departed_nodes", schema: schema)
            await #expect(throws: InventoryError.self) {
                try await store.applySkipChanges([
                    .operations(nodeId: worker1, vmUuid: vmUuid(1), count: 1),
                    .departed(nodeId: worker2, ageMillis: 1),
                ])
            }
            try await StoreBackend.administer(
                "CREATE TABLE skip_departed_nodes (node_id text PRIMARY KEY, left_at_epoch_millis bigint NOT NULL)",
                schema: schema)
            #expect(try await store.loadSkipRegistry().isEmpty, "the first change of the failed batch must be gone")
        }
    }

    @Test("a wrong password is refused with the server's reason, never the password")
    func wrongPasswordIsAClearError() async throws {
        var settings = try #require(StoreBackend.postgresSettings)
        settings.password = "not-the-password-\(UUID().uuidString)"
        settings.operationTimeout = .seconds(5)
        let error = await #expect(throws: InventoryError.self) {
            _ = try await PostgresInventory.open(settings, owner: worker1, logger: StoreBackend.logger)
        }
        let text = String(describing: error)
        #expect(text.contains("password authentication failed"), "\(text)")
        #expect(!text.contains(settings.password ?? "?"))
        #expect(text.contains(settings.location))
    }

    @Test("a server that accepts and never answers fails the open within the operation timeout")
    func silentServerTimesOut() async throws {
        let listener = try await SilentLoopbackListener.start()
        do {
            let settings = PostgresStoreSettings(
                host: "127.0.0.1", port: listener.port, username: "cloudbus", password: "x", database: "cloudbus",
                operationTimeout: .milliseconds(500))
            let error = await #expect(throws: InventoryError.self) {
                _ = try await PostgresInventory.open(settings, owner: worker1, logger: StoreBackend.logger)
            }
            // Either bound may fire first: the connect timeout (the server never finished the startup handshake)
            // or the operation's own.
            let text = String(describing: error)
            #expect(text.contains("Connect timeout (500 ms)") || text.contains("no answer from the database within 0.5 seconds"),
                    "\(text)")
        }
        await listener.close()
    }
}

@Suite("Store URL")
struct StoreURLTests {
    @Test func aCompleteURLIsRead() throws {
        let settings = try PostgresStoreSettings(
            url: "postgres://fleet@db.example:6543/cloud?sslmode=require&schema=staging", password: "secret")
        #expect(settings == PostgresStoreSettings(host: "db.example", port: 6543, username: "fleet", password: "secret",
                                                 database: "cloud", tls: .require, schema: "staging"))
        #expect(settings.location == "postgres://fleet@db.example:6543/cloud?sslmode=require&schema=staging")
        #expect(try PostgresStoreSettings(url: "postgresql://u@h/d", password: nil).port == 5432)
    }

    @Test(arguments: [
        ("postgres://u:hunter2@h/d", "must not carry a password"),
        ("mysql://u@h/d", "looks like postgres://"),
        ("postgres://h/d", "names no user"),
        ("postgres://u@h", "names no database"),
        ("postgres://u@h/d/e", "names no database"),
        ("postgres://u@h:0/d", "port 0"),
        ("postgres://u@h/d?sslmode=maybe", "sslmode=maybe"),
        ("postgres://u@h/d?schema=Robert'); DROP", "not a plain identifier"),
        ("postgres://u@h/d?timeout=3", "unknown store URL parameter timeout"),
    ])
    func badURLsAreRefusedWithTheReason(_ url: String, _ reason: String) {
        do {
            _ = try PostgresStoreSettings(url: url, password: nil)
            Issue.record("\(url) was accepted")
        } catch {
            let text = String(describing: error)
            #expect(text.contains(reason), "\(text)")
            #expect(!text.contains("hunter2"))
        }
    }
}
