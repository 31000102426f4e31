/// The guest bus addresses of VM devices, kept by (VM, resource) as ZStack's device-info sync records them.
///
/// Methods may be called concurrently from any task; each one is atomic on its own. Failures are
/// ``InventoryError`` values.
public protocol VmDeviceAddressStore: Sendable {
    /// Inserts or replaces (keyed by VM and resource) every address, in one transaction.
    ///
    /// Every record is validated first; an invalid one throws ``InventoryError/invalidRecords(_:)`` and nothing
    /// is kept. A VM the store does not know throws ``InventoryError/notFound(entity:uuid:)`` and nothing is kept.
    /// Which resources belong to the VM (its volumes and NICs) is the caller's check: the store has no device list.
    func upsertDeviceAddresses(_ addresses: [VmDeviceAddress]) async throws

    /// The addresses recorded for one VM, ordered by resource uuid (empty for an unknown VM).
    func deviceAddresses(ofVm vmUuid: String) async throws -> [VmDeviceAddress]
}
