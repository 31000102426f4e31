/// A store that can take a whole inventory (hosts and VMs) in one all-or-nothing transaction: what
/// `cloudbus-worker inventory import FILE` needs.
public protocol InventoryBatchStore: Sendable {
    /// Upserts every host and VM of `batch` in one transaction and reports how many rows were new or replaced.
    ///
    /// Before writing anything it checks every record (``InventoryBatch/problems()``) and then, inside the
    /// transaction so no concurrent writer can interfere, that each VM's `hostUuid` and `lastHostUuid` name a host
    /// in the batch or already in the store. Any problem throws ``InventoryError/invalidRecords(_:)`` listing the
    /// problems found, with the entry index of each, and the store is left exactly as it was.
    func importBatch(_ batch: InventoryBatch) async throws -> InventoryImportSummary
}

