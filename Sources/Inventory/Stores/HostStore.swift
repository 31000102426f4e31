/// The hosts the cloud expects, by uuid: the KVM module's source of agent addresses and host status.
///
/// Backends: ``SQLiteInventory`` (embedded default); a shared PostgreSQL store can conform later so several
/// workers see one inventory. All methods may be called concurrently from any task; each one is atomic on its own.
/// Failures are ``InventoryError`` values (`storage` for database trouble, `invalidRecords`, `notFound`).
public protocol HostStore: Sendable {
    /// The host with this uuid, or nil when the inventory does not know it.
    ///
    /// The hot path: the worker calls it for every `PingHostMsg`, so backends keep it a single indexed lookup and
    /// never serialize it behind writes.
    func host(uuid: String) async throws -> HostRecord?

    /// Every host, ordered by uuid.
    func hosts() async throws -> [HostRecord]

    /// Inserts the hosts that are new and replaces every field of those that exist, all in one transaction.
    ///
    /// Every record is validated first (``HostRecord/problems(index:)``); if any is invalid the store throws
    /// ``InventoryError/invalidRecords(_:)`` and keeps nothing. A uuid given twice keeps the later entry.
    func upsertHosts(_ hosts: [HostRecord]) async throws

    /// Sets the status of one host and returns the status it had, read in the same transaction, so the caller can
    /// tell a real change (which ZStack announces) from a repeat.
    ///
    /// Throws ``InventoryError/notFound(entity:uuid:)`` when the host is unknown.
    @discardableResult
    func updateHostStatus(uuid: String, to status: HostStatus) async throws -> HostStatus

    /// ``updateHostStatus(uuid:to:)`` that also writes the messages the change causes to the outbox under
    /// `outboxKey`, in the same transaction; `messages` gets the previous status (fast, non-blocking).
    func updateHostStatus(
        uuid: String, to status: HostStatus, outboxKey: String,
        messages: @escaping @Sendable (HostStatus) throws -> [OutboxMessage]
    ) async throws -> (previous: HostStatus, outbox: [OutboxEntry])
}
