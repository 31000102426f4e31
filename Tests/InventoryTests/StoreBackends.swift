import CloudBusTesting
import Foundation
import Inventory
import InventoryPostgres
import Logging
import PostgresNIO
import Testing

/// The two back ends every store test runs against: SQLite (in memory or a scratch file) and PostgreSQL (a schema
/// of its own in the test database that `make test` starts, dropped at the end).
///
/// PostgreSQL runs when `CLOUDBUS_TEST_STORE_URL` names it (`make test` always sets it, with
/// `CLOUDBUS_TEST_STORE_PASSWORD`); a plain `swift test` without it runs SQLite only, and
/// ``StoreBackendsConfiguredTests`` fails when `make test` asked for both (`CLOUDBUS_TEST_REQUIRE_STORE=1`), so the
/// PostgreSQL half never goes missing silently there.
enum StoreBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    /// SQLite on a scratch file: where the dedupe window lives in the answer log instead of a table. The answer-store
    /// suites run it beside the other two (``answerStores``).
    case sqliteFile
    case postgres

    var testDescription: String { rawValue }

    static var available: [StoreBackend] { postgresSettings == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// ``available`` and SQLite on a file: the stores whose answered messages live in three different places.
    static var answerStores: [StoreBackend] { available + [.sqliteFile] }

    /// The test database from the environment, or nil.
    static var postgresSettings: PostgresStoreSettings? {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["CLOUDBUS_TEST_STORE_URL"], !url.isEmpty else { return nil }
        return try? PostgresStoreSettings(url: url, password: environment["CLOUDBUS_TEST_STORE_PASSWORD"])
    }

    static let slots = AsyncSlots(8)
    static let logger = Logger(label: "store-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A fresh, empty store for `body`, closed and removed when it ends, however it ends.
    func withStore<T>(_ body: (any InventoryBackend) async throws -> T) async throws -> T {
        if self == .sqlite { return try await body(try SQLiteInventory.inMemory()) }
        if self == .sqliteFile {
            return try await withTemporaryDatabasePath { path in try await body(try SQLiteInventory(path: path)) }
        }
        return try await withDatabase { database in try await body(try await database.open()) }
    }

    /// One fresh, empty database for `body`, which may open several stores on it (a restart, a second worker).
    func withDatabase<T>(_ body: (ScratchDatabase) async throws -> T) async throws -> T {
        switch self {
        case .sqlite, .sqliteFile:
            return try await withTemporaryDatabasePath { path in
                let database = ScratchDatabase(opener: { _ in try SQLiteInventory(path: path) })
                defer { database.closeAll() }
                return try await body(database)
            }
        case .postgres:
            let base = try #require(Self.postgresSettings, "CLOUDBUS_TEST_STORE_URL is not set")
            // Swift Testing starts every case at once; a few hundred schemas migrating together would only measure
            // the test server's patience. Eight at a time keeps each well inside the store's operation timeout.
            await Self.slots.acquire()
            defer { Self.slots.release() }
            let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            var settings = base
            settings.schema = schema
            settings.maximumConnections = 4
            // A whole test run opens hundreds of stores on two cores at once: a test store waits longer than the
            // product's 10 s before it calls the database silent.
            settings.operationTimeout = .seconds(30)
            let database = ScratchDatabase(opener: { owner in
                try await PostgresInventory.open(settings, owner: owner, logger: Self.logger)
            })
            do {
                let result = try await body(database)
                await database.closeAllAndWait()
                try await Self.dropSchema(schema, settings: base)
                return result
            } catch {
                await database.closeAllAndWait()
                try? await Self.dropSchema(schema, settings: base)
                throw error
            }
        }
    }

    /// Runs `sql` on the test database itself (an administrator's session), in `schema` when given.
    static func administer(_ sql: String, schema: String? = nil) async throws {
        let base = try #require(postgresSettings)
        var configuration = PostgresClient.Configuration(
            host: base.host, port: base.port, username: base.username, password: base.password,
            database: base.database, tls: .disable)
        if let schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    private static func dropSchema(_ schema: String, settings: PostgresStoreSettings) async throws {
        try await administer("DROP SCHEMA IF EXISTS \(schema) CASCADE")
    }
}

/// Opens stores on one scratch database and closes every one it opened.
final class ScratchDatabase: @unchecked Sendable {
    // @unchecked: `opened` is only touched from the one test task that owns this value (open, then close at the
    // end); the value is never shared between tasks.
    private let opener: (String) async throws -> any InventoryBackend
    private var opened: [any InventoryBackend] = []

    init(opener: @escaping (String) async throws -> any InventoryBackend) {
        self.opener = opener
    }

    /// A store on this database; `owner` names the worker whose outbox rows it sees (PostgreSQL).
    func open(owner: String = "c0000000000000000000000000000001") async throws -> any InventoryBackend {
        let store = try await opener(owner)
        opened.append(store)
        return store
    }

    func closeAll() {
        opened.removeAll()
    }

    func closeAllAndWait() async {
        for store in opened { await store.close() }
        opened.removeAll()
    }
}

@Suite("Store back ends under test")
struct StoreBackendsConfiguredTests {
    @Test("make test runs every store test against PostgreSQL too",
          .enabled(if: ProcessInfo.processInfo.environment["CLOUDBUS_TEST_REQUIRE_STORE"] == "1"))
    func postgresIsConfiguredInCI() {
        #expect(StoreBackend.available == [.sqlite, .postgres],
                "make test sets CLOUDBUS_TEST_STORE_URL; without it the PostgreSQL half of the store tests is skipped")
    }
}
