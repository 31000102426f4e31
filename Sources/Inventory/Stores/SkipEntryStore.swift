/// Where the VM tracer's skip registry keeps its state so a worker restart does not forget which VMs are owned by
/// an operation in flight (or orphaned by a node that left): forgetting them is what lets HA start a VM twice.
///
/// Methods may be called concurrently from any task; each one is atomic on its own (one transaction). The caller
/// orders its writes (the registry has one writer at a time). Failures are ``InventoryError`` values.
public protocol SkipEntryStore: Sendable {
    /// Everything stored, rows in a stable order (node, then VM or API id).
    func loadSkipRegistry() async throws -> SkipRegistrySnapshot

    /// Applies `changes` in order, in one transaction: all or nothing.
    func applySkipChanges(_ changes: [SkipEntryChange]) async throws

    /// Replaces everything stored by `snapshot`, in one transaction (after a failed write, the registry rewrites
    /// its whole state rather than guess which rows the lost changes touched).
    func replaceSkipRegistry(with snapshot: SkipRegistrySnapshot) async throws
}
