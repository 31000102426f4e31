/// One complete store: every protocol the worker wires in, over one database. ``SQLiteInventory`` is the embedded
/// default for a single worker; `PostgresInventory` (module `InventoryPostgres`) is the store a fleet shares.
///
/// The worker, the `inventory import` command and the benchmarks hold an `any InventoryBackend` and never ask which
/// one it is: a behaviour one back end has and the other lacks is a bug, and the store tests run against both.
public protocol InventoryBackend: HostStore, VmStore, VmNicStore, VmDeviceAddressStore, VmVirtualizerInfoStore,
    SkipEntryStore, ZbsPrimaryStorageStore, AnsweredMessageStore, OutboxStore, InventoryBatchStore, MemberStore,
    DeliveryAttemptStore
{
    /// Where the data lives, fit for logs and errors: a file path, `:memory:`, or a database URL **without** its
    /// password.
    var location: String { get }

    /// Whether other workers write this store too (PostgreSQL shared by a fleet): then what this worker holds in
    /// memory is not the whole truth, and the skip registry asks the store before verdicts.
    var isShared: Bool { get }

    /// The names of the schema migrations applied, in order (the same names on every back end).
    func appliedMigrations() async throws -> [String]

    /// Releases connections and background work. The store must not be used afterwards. Idempotent.
    func close() async
}
