import Inventory
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// The store a fleet shares: every ``InventoryBackend`` protocol over one PostgreSQL database, through postgres-nio's
/// connection pool.
///
/// Same promises as ``SQLiteInventory`` (each method atomic, one transaction per write, nothing cached, every
/// read sees the latest commit), plus those a shared database needs: a read-modify-write (`updateVm`,
/// `updateHostStatus`, `updateMdsStatus`) locks its row (`SELECT … FOR UPDATE`), so two workers never lose each
/// other's change; every operation answers within ``PostgresStoreSettings/operationTimeout`` (a database that went
/// away is an ``InventoryError/storage(operation:path:reason:)``, never a hang); errors name ``location``, which
/// never holds the password. Outbox rows belong to the worker that wrote them (``owner``): a worker flushes its own
/// rows, never a live peer's.
public final class PostgresInventory: InventoryBackend, Sendable {
    public let settings: PostgresStoreSettings
    /// The node whose outbox rows this value reads and writes.
    public let owner: String
    let client: PostgresClient
    let logger: Logger
    /// Runs the pool for as long as the store is open: postgres-nio's client does its connection work inside
    /// `run()`. Unstructured because the store outlives any one caller's scope (the worker's service group starts
    /// after the store has migrated, and `inventory import` has no service group); ``close()`` ends it.
    private let runner: Task<Void, Never>

    public var location: String { settings.location }
    /// The fleet's store: every worker configured with this URL and schema writes it.
    public var isShared: Bool { true }
    /// Statements inside transactions log nothing of their own: their failures come back as errors, which the
    /// store turns into `InventoryError`s naming the operation.
    static let quiet = Logger(label: "cloudbus.store", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Connects, brings the schema up to date (one migrator at a time across the fleet, under an advisory lock),
    /// and returns the open store.
    ///
    /// - Throws: ``InventoryError/storage(operation:path:reason:)`` when the database cannot be reached within the
    ///   operation timeout, refuses the login, or was migrated by a newer build.
    public static func open(
        _ settings: PostgresStoreSettings, owner: String, logger: Logger
    ) async throws(InventoryError) -> PostgresInventory {
        if let schema = settings.schema, !PostgresStoreSettings.isPlainIdentifier(schema) {
            throw .storage(operation: "open", path: settings.location,
                           reason: "schema \(schema) is not a plain identifier (lowercase letters, digits, _)")
        }
        // One connection of our own first: the pool retries a refused login or a refused connection quietly until
        // the caller's timeout, which would leave the operator with "no answer"; a single connect fails with the
        // server's reason ("password authentication failed for user …"). The migration runs on it.
        try await PostgresSchema.migrate(settings, logger: logger)
        return PostgresInventory(settings: settings, owner: owner, logger: logger)
    }

    private init(settings: PostgresStoreSettings, owner: String, logger: Logger) {
        self.settings = settings
        self.owner = owner
        self.logger = logger
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database,
            tls: settings.tls == .require ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = settings.maximumConnections
        configuration.options.connectTimeout = settings.operationTimeout
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(15))
        if let schema = settings.schema {
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.runner = Task { await client.run() }
    }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    public func appliedMigrations() async throws -> [String] {
        try await bounded("appliedMigrations") { client in
            try await client.query("SELECT name FROM cloudbus_migrations ORDER BY applied_order")
                .collect(String.self)
        }
    }

    // MARK: - Database access with typed errors and a bound

    /// Runs `body` with the pool (single statements, no explicit transaction), within the operation timeout.
    /// Database failures become ``InventoryError/storage(operation:path:reason:)`` naming `operation`.
    func bounded<T: Sendable>(
        _ operation: @autoclosure () -> String, _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = self.client
        do {
            return try await InventoryPostgres.bounded(by: settings.operationTimeout) { try await body(client) }
        } catch {
            throw translate(error, operation: operation())
        }
    }

    /// Runs `body` in one transaction (rolled back if it throws), within `limit` (default: the operation timeout). Errors as for
    /// ``bounded(_:_:)``; other errors thrown by `body` (the caller's closure in `updateVm`) pass through unchanged.
    func transaction<T: Sendable>(
        _ operation: @autoclosure () -> String, limit: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let client = self.client
        let logger = self.logger
        do {
            return try await InventoryPostgres.bounded(by: limit ?? settings.operationTimeout) {
                try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch {
            throw translate(error, operation: operation())
        }
    }

    private func translate(_ error: any Error, operation: String) -> any Error {
        switch error {
        case InventoryError.storage(let failedOperation, nil, let reason):
            return InventoryError.storage(operation: failedOperation, path: location, reason: reason)
        case let error as PSQLError:
            return InventoryError.storage(operation: operation, path: location, reason: Self.reason(error))
        case let error as PostgresTransactionError:
            // The closure's own error (a refused VM transition, notFound) passes through unchanged; a failed
            // BEGIN/COMMIT/ROLLBACK is the database's.
            if let closureError = error.closureError, !(closureError is PSQLError) {
                return translate(closureError, operation: operation)
            }
            let underlying = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError
            return InventoryError.storage(
                operation: operation, path: location,
                reason: underlying.map { ($0 as? PSQLError).map(Self.reason) ?? String(describing: $0) }
                    ?? "transaction failed")
        case let error as PostgresDecodingError:
            return InventoryError.storage(
                operation: operation, path: location,
                reason: "column \(error.columnName) holds \(error.postgresType), not \(error.targetType)")
        case let error as BoundedOperationTimeout:
            return InventoryError.storage(operation: operation, path: location, reason: error.description)
        default:
            return error
        }
    }

    /// What went wrong, from the server's message when there is one. `PSQLError.description` is deliberately vague
    /// (it may be shown to end users); an operator needs the server's words and the SQLSTATE.
    static func reason(_ error: PSQLError) -> String {
        if let server = error.serverInfo {
            let message = server[.message] ?? "server error"
            let code = server[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            let detail = server[.detail].map { ": \($0)" } ?? ""
            return message + detail + code
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}

extension PostgresRowSequence {
    /// Every row's single column.
    func collect<T: PostgresDecodable & Sendable>(_ type: T.Type) async throws -> [T] {
        var values: [T] = []
        for try await value in self.decode(T.self) { values.append(value) }
        return values
    }

    /// Reads and discards every row (a statement whose result is not needed, such as `SELECT pg_advisory_…`).
    func drain() async throws {
        for try await _ in self {}
    }
}
