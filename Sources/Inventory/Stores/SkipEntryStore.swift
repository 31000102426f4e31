/// Where the VM tracer's skip registry keeps its state so a worker restart does not forget which VMs are owned by
/// an operation in flight (or orphaned by a node that left): forgetting them is what lets HA start a VM twice.
///
/// Several writers may share one store (a fleet on PostgreSQL: every worker records the same broadcast skip
/// events). Changes are absolute values (``SkipEntryChange``), so writers that saw the same events agree; a writer
/// that lost a batch rewrites only the rows that batch touched, never the whole table.
///
/// Methods may be called concurrently from any task; each one is atomic on its own (one transaction). The caller
/// orders its writes (the registry has one writer at a time). Failures are ``InventoryError`` values.
public protocol SkipEntryStore: Sendable {
    /// Everything stored, rows in a stable order (node, then VM or API id); times as ages on the store's clock.
    func loadSkipRegistry() async throws -> SkipRegistrySnapshot

    /// Applies `changes` in order, in one transaction: all or nothing.
    func applySkipChanges(_ changes: [SkipEntryChange]) async throws

    /// What the stored rows say about `vmUuids` now, judged on the store's clock: skipped (an operation of any node
    /// is in flight, or an orphan younger than `orphanTimeoutMillis`), or orphan expired recently (an orphan whose
    /// age is at least the timeout but less than the timeout plus `expiryWindowMillis`). VMs with neither are
    /// absent from the result. This is the fleet-wide second opinion a worker asks before a Stopped verdict.
    func sharedSkipStates(
        of vmUuids: [String], orphanTimeoutMillis: Int64, expiryWindowMillis: Int64
    ) async throws -> [String: SharedSkipState]
}

/// What the shared skip rows say about one VM (see ``SkipEntryStore/sharedSkipStates(of:orphanTimeoutMillis:expiryWindowMillis:)``).
public enum SharedSkipState: Sendable, Hashable {
    /// An operation in flight or a live orphan protects the VM: no missing-VM verdict.
    case skipped
    /// The VM's orphan expired recently: a Stopped verdict may be the race the TTL only deferred.
    case orphanExpiredRecently
}

extension SharedSkipState {
    /// The state an orphan row of age `orphanAge` stands for (nil: expired longer ago than `window`), all in
    /// milliseconds of the store's clock.
    public init?(orphanAge: Int64, timeout: Int64, window: Int64) {
        if orphanAge < timeout {
            self = .skipped
        } else if orphanAge < timeout + window {
            self = .orphanExpiredRecently
        } else {
            return nil
        }
    }
}
