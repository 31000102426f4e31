import Foundation
import GRDB
import Primitives
import Synchronization

/// The embedded inventory: every store protocol over one SQLite database, through GRDB.
///
/// A file database is a `DatabasePool` in WAL mode: reads (`host(uuid:)`, `expectedVms(onHost:)`) run
/// concurrently on reader connections and never wait for a writer; writes are serialized, each in one
/// transaction. Another process (for example `cloudbus-worker inventory import` while the worker runs) may write
/// the same file: a write waits up to `busyTimeout` for the other writer before failing with
/// ``InventoryError/storage(operation:path:reason:)``. For that reason nothing is cached in memory; every read
/// sees the latest committed data.
///
/// Every commit is durable when it returns (`synchronous = FULL`: the WAL is fsynced), because what the worker does
/// next — ack a delivery, publish an outbox row — must not be undone by a power loss.
///
/// A file database keeps its dedupe window in an ``AnswerLog`` beside it (`<path>-answers/`), not in a table.
///
/// Database work runs on GRDB's own dispatch queues, never on Swift's cooperative pool — except the answer
/// journal's blocking write (``BlockingAnswerRecorder``), which runs on the journal's own thread, and point lookups
/// (``lookUp(_:_:)``), which run on the caller's thread. Opening (and migrating) is synchronous and blocks the
/// caller: do it once at startup.
public final class SQLiteInventory: Sendable {
    /// The database file, or nil for an in-memory database.
    public let path: String?
    let database: any DatabaseWriter
    /// The store's clock in epoch milliseconds: stamps skip-registry times and ages them on load (see
    /// ``SkipEntryChange``). The host's wall clock unless a test moves it by hand.
    let storeClock: @Sendable () -> Int64
    /// A file database's dedupe window (``AnswerLog``, in `<path>-answers/`); nil in memory, where the
    /// `answered_messages` table holds it.
    let answerLog: AnswerLog?
    /// Whether rows a build before the answer log left in `answered_messages` were moved into it (checked once).
    let answerTableMoved = Mutex(false)

    /// The host's wall clock in epoch milliseconds (the default ``storeClock``).
    public static let systemClock: @Sendable () -> Int64 = {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// Opens the database file at `path`, creating it if needed (its directory must exist), and brings its schema
    /// up to date.
    ///
    /// - Parameters:
    ///   - busyTimeout: how long a write waits for another process's write transaction. Default: 5 s.
    ///   - clock: the store's clock (``storeClock``); tests inject one they move by hand.
    /// - Throws: ``InventoryError/storage(operation:path:reason:)`` when the file cannot be opened or migrated, or
    ///   when it was migrated by a newer build whose schema this build does not know.
    public convenience init(
        path: String, busyTimeout: Duration = .seconds(5), clock: @escaping @Sendable () -> Int64 = systemClock
    ) throws(InventoryError) {
        var configuration = Configuration()
        configuration.label = "inventory"
        configuration.busyMode = .timeout(busyTimeout.inSeconds)
        // 256 KiB of page cache per connection instead of SQLite's 2 MiB, measured when the answers were a table here
        // (the journal's writer touched the table's two ends and the start-up reader the whole window once, pages
        // nobody reads again; the OS caches the file anyway): peak RSS at W=100 −1.9 MB, CPU per echo and per ping
        // within the spread (BENCHMARKS.md).
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -256") }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB turns WAL mode's commits down to `synchronous = NORMAL` (no fsync until a checkpoint): a commit
            // that a power loss can undo. Acks, replies and outbox rows are sent only after their commit, so a
            // commit must be on disk when it returns: FULL fsyncs the WAL on every commit. Only the writer commits.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            throw .storage(operation: "open", path: path, reason: String(describing: error))
        }
        try self.init(database: pool, path: path, clock: clock)
    }

    /// A private in-memory database with the current schema, gone when the value is released. For tests and
    /// dry runs: reads and writes share one connection.
    public static func inMemory(
        clock: @escaping @Sendable () -> Int64 = systemClock
    ) throws(InventoryError) -> SQLiteInventory {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue()
        } catch {
            throw .storage(operation: "open", path: nil, reason: String(describing: error))
        }
        return try SQLiteInventory(database: queue, path: nil, clock: clock)
    }

    private init(
        database: any DatabaseWriter, path: String?, clock: @escaping @Sendable () -> Int64
    ) throws(InventoryError) {
        self.database = database
        self.path = path
        self.storeClock = clock
        self.answerLog = path.map { AnswerLog(directory: $0 + "-answers") }
        do {
            let superseded = try database.read { try SQLiteSchema.migrator.hasBeenSuperseded($0) }
            if superseded {
                throw InventoryError.storage(
                    operation: "migrate", path: path,
                    reason: "the database has migrations unknown to this build (written by a newer version)")
            }
            try SQLiteSchema.migrator.migrate(database)
        } catch let error as InventoryError {
            throw error
        } catch {
            throw .storage(operation: "migrate", path: path, reason: String(describing: error))
        }
    }

    /// The names of the schema migrations applied to this database, in order.
    public func appliedMigrations() async throws -> [String] {
        try await read("appliedMigrations") { try SQLiteSchema.migrator.appliedMigrations($0) }
    }

    /// The migrations this build knows, in order: the names a `PostgresInventory` applies too.
    public static var knownMigrations: [String] { SQLiteSchema.migrator.migrations }

    // MARK: - Database access with typed errors

    /// Runs `body` on a reader connection. Database failures become `InventoryError.storage` naming `operation`
    /// and this database's path; `InventoryError`s thrown by `body` get the path filled in.
    func read<T: Sendable>(
        _ operation: @autoclosure () -> String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do {
            return try await database.read(body)
        } catch {
            throw translate(error, operation: operation())
        }
    }

    /// Like ``read(_:_:)`` but without GRDB's explicit `BEGIN`/`COMMIT` around `body`: two statements fewer on
    /// the hot paths. Only for a `body` that runs exactly **one** SELECT: SQLite runs a single statement in its
    /// own implicit read transaction, so it still sees one consistent snapshot; two statements might not.
    func readOneStatement<T: Sendable>(
        _ operation: @autoclosure () -> String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do {
            return try await database.unsafeRead(body)
        } catch {
            throw translate(error, operation: operation())
        }
    }

    /// ``readOneStatement(_:_:)`` on the calling thread, for point lookups on a handler's path (a host, a VM, a
    /// host's expected VMs): no hop to GRDB's pool queue and the reader's queue and back — three thread switches
    /// per lookup, which at W=100 pings kept a dozen dispatch threads busy waiting on each other. It blocks the
    /// caller for the one SELECT (tens of microseconds on an indexed lookup; a WAL reader never waits for the
    /// writer, only for a free reader connection), so only indexed lookups come here, never a table scan.
    func lookUp<T>(_ operation: @autoclosure () -> String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try database.unsafeRead(body)
        } catch {
            throw translate(error, operation: operation())
        }
    }

    /// Runs `body` in one write transaction, rolled back if it throws. Errors as for ``read(_:_:)``; other errors
    /// thrown by `body` (the caller's closure in `updateVm`) pass through unchanged.
    func write<T: Sendable>(
        _ operation: @autoclosure () -> String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do {
            return try await database.write(body)
        } catch {
            throw translate(error, operation: operation())
        }
    }

    /// ``write(_:_:)`` on the calling thread, which it blocks until the commit (GRDB runs the transaction there
    /// when its writer is free, and waits for it otherwise). Not for Swift's cooperative pool.
    func writeBlocking<T>(_ operation: @autoclosure () -> String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try database.write(body)
        } catch {
            throw translate(error, operation: operation())
        }
    }

    private func translate(_ error: any Error, operation: String) -> any Error {
        switch error {
        case InventoryError.storage(let failedOperation, nil, let reason):
            return InventoryError.storage(operation: failedOperation, path: path, reason: reason)
        case let error as DatabaseError:
            return InventoryError.storage(operation: operation, path: path, reason: error.description)
        default:
            return error
        }
    }
}

extension SQLiteInventory: InventoryBackend {
    public var location: String { path ?? ":memory:" }
    /// One worker's embedded file (another process may write it — `inventory import` — but no other worker).
    public var isShared: Bool { false }

    /// Nothing to do: GRDB closes the database when the value is released.
    public func close() async {}
}
