import CloudBusTesting
import Foundation
import Glibc
import InventoryPostgres
import Logging
import PostgresNIO

/// The PostgreSQL server `make test` starts (`CLOUDBUS_TEST_STORE_URL`, `CLOUDBUS_TEST_STORE_PASSWORD`): each test
/// gets a schema of its own, dropped at the end, so tests never see each other's rows.
enum TestStore {
    static var settings: PostgresStoreSettings? {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["CLOUDBUS_TEST_STORE_URL"], !url.isEmpty else { return nil }
        return try? PostgresStoreSettings(url: url, password: environment["CLOUDBUS_TEST_STORE_PASSWORD"])
    }

    /// Whether the store suites run: when PostgreSQL is configured, and always in CI (`CI=true`), where a missing
    /// store must fail them (``withSchema`` throws) rather than skip them.
    static var available: Bool { settings != nil || ProcessInfo.processInfo.environment["CI"] == "true" }

    private static let slots = AsyncSlots(4)

    /// Settings for a fresh schema, dropped when `body` ends, however it ends.
    static func withSchema<T>(_ body: (PostgresStoreSettings) async throws -> T) async throws -> T {
        guard var settings else { throw TestStoreUnavailable() }
        settings.schema = "w_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        settings.maximumConnections = 4
        // A whole test run opens many stores on two cores at once: a test store waits longer than the product's
        // 10 s before it calls the database silent, and at most four such tests run together.
        settings.operationTimeout = .seconds(30)
        await slots.acquire()
        defer { slots.release() }
        do {
            let result = try await body(settings)
            try await administer("DROP SCHEMA IF EXISTS \(settings.schema!) CASCADE")
            return result
        } catch {
            try? await administer("DROP SCHEMA IF EXISTS \(settings.schema!) CASCADE")
            throw error
        }
    }

    /// Runs `sql` as the test database's owner.
    static func administer(_ sql: String) async throws {
        guard let base = settings else { throw TestStoreUnavailable() }
        let client = PostgresClient(
            configuration: .init(host: base.host, port: base.port, username: base.username, password: base.password,
                                 database: base.database, tls: .disable),
            backgroundLogger: Logger(label: "test-store", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// Whether tests may stop and start the PostgreSQL server (`CLOUDBUS_PG_CTL` names `scripts/postgres.sh`).
    static var controllable: Bool {
        available && (ProcessInfo.processInfo.environment["CLOUDBUS_PG_CTL"] != nil
            || ProcessInfo.processInfo.environment["CI"] == "true")
    }

    /// Runs the server's control script (`stop`, `start`), waiting for it to finish.
    static func control(_ argument: String) throws {
        guard let script = ProcessInfo.processInfo.environment["CLOUDBUS_PG_CTL"] else { throw TestStoreUnavailable() }
        try ScriptControl.run(script, [argument])
    }

    struct TestStoreUnavailable: Error, CustomStringConvertible {
        var description: String { "CLOUDBUS_TEST_STORE_URL is not set (make test sets it)" }
    }
}
