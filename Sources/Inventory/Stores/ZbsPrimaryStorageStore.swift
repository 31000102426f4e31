/// The ZBS primary storages the worker may call, with their MDS nodes and pools, by uuid.
///
/// Every MDS call reads its storage afresh (one indexed read), so a call works on a snapshot: an update made while
/// a call runs is seen by the next call, never half-way through one. All methods may be called concurrently; each
/// is atomic. Failures are ``InventoryError`` values.
public protocol ZbsPrimaryStorageStore: Sendable {
    /// The storage with this uuid (MDS in configured order), or nil when the inventory does not know it.
    func zbsPrimaryStorage(uuid: String) async throws -> ZbsPrimaryStorageRecord?

    /// Every ZBS primary storage, ordered by uuid.
    func zbsPrimaryStorages() async throws -> [ZbsPrimaryStorageRecord]

    /// Inserts new storages and replaces existing ones whole (MDS list and pools included), in one transaction.
    ///
    /// Every record is validated first (``ZbsPrimaryStorageRecord/problems(index:)``); if any is invalid the store
    /// throws ``InventoryError/invalidRecords(_:)`` and keeps nothing. A uuid given twice keeps the later entry.
    func upsertZbsPrimaryStorages(_ storages: [ZbsPrimaryStorageRecord]) async throws

    /// Sets the status of the MDS at `addr` (and `agentPort`, when several MDS share an address; nil: every MDS at
    /// `addr`) of one storage — what a ping cycle decides — and returns the status it had (the first in order).
    ///
    /// Throws ``InventoryError/notFound(entity:uuid:)`` when the storage or the MDS is unknown.
    @discardableResult
    func updateMdsStatus(
        primaryStorageUuid: String, addr: String, agentPort: Int?, to status: MdsStatus
    ) async throws -> MdsStatus
}

extension ZbsPrimaryStorageStore {
    /// ``updateMdsStatus(primaryStorageUuid:addr:agentPort:to:)`` for every MDS at `addr`, whatever its port.
    @discardableResult
    public func updateMdsStatus(primaryStorageUuid: String, addr: String, to status: MdsStatus) async throws
        -> MdsStatus
    {
        try await updateMdsStatus(primaryStorageUuid: primaryStorageUuid, addr: addr, agentPort: nil, to: status)
    }
}
