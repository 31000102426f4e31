/// The virtualizer and version each VM runs under, as last reported by its host's agent.
///
/// Methods may be called concurrently from any task; each one is atomic on its own. Failures are
/// ``InventoryError`` values.
public protocol VmVirtualizerInfoStore: Sendable {
    /// Inserts or replaces the VM's info. An unknown VM throws ``InventoryError/notFound(entity:uuid:)``.
    func saveVirtualizerInfo(_ info: VmVirtualizerInfo) async throws

    /// The info recorded for one VM, or nil.
    func virtualizerInfo(ofVm vmUuid: String) async throws -> VmVirtualizerInfo?
}
