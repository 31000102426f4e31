/// The network interfaces of VMs, by VM: what the device-info sync matches reported MACs against.
///
/// Methods may be called concurrently from any task; each one is atomic on its own. Failures are
/// ``InventoryError`` values.
public protocol VmNicStore: Sendable {
    /// Makes `nics` the complete NIC list of VM `vmUuid` (NICs of that VM not listed are removed), in one
    /// transaction. Every record must name `vmUuid` and be valid (``VmNicRecord/problems(index:nicIndex:)``), else
    /// ``InventoryError/invalidRecords(_:)``; an unknown VM throws ``InventoryError/notFound(entity:uuid:)``.
    /// Nothing is kept on error.
    func replaceNics(ofVm vmUuid: String, with nics: [VmNicRecord]) async throws

    /// The NICs of one VM, ordered by uuid (empty for an unknown VM).
    func nics(ofVm vmUuid: String) async throws -> [VmNicRecord]
}
