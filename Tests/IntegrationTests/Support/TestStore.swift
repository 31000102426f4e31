import Foundation
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

    static var available: Bool { settings != nil }

    /// Settings for a fresh schema, dropped when `body` ends, however it ends.
    static func withSchema<T>(_ body: (PostgresStoreSettings) async throws -> T) async throws -> T {
        guard var settings else { throw TestStoreUnavailable() }
        settings.schema = "w_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        settings.maximumConnections = 4
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

    struct TestStoreUnavailable: Error, CustomStringConvertible {
        var description: String { "CLOUDBUS_TEST_STORE_URL is not set (make test sets it)" }
    }
}
