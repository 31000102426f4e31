/// One change to the persisted skip registry. Every case states the resulting value (not a delta), so applying
/// the same change twice leaves the same rows.
public enum SkipEntryChange: Sendable, Hashable {
    /// Node `nodeId` has `operations` operations in flight on `vmUuid`; 0 deletes the row.
    case operations(nodeId: String, vmUuid: String, count: Int)
    /// Records the VM of API message `apiId` of node `nodeId`.
    case apiId(nodeId: String, apiId: String, vmUuid: String)
    /// Forgets API message `apiId` of node `nodeId`.
    case removeApiId(nodeId: String, apiId: String)
    /// Forgets every operation row and API id of node `nodeId`.
    case removeNode(nodeId: String)
    /// `vmUuid` is orphaned since `epochMillis` (replaces an older timestamp).
    case orphan(vmUuid: String, epochMillis: Int64)
    /// `vmUuid` is no longer orphaned.
    case removeOrphan(vmUuid: String)
    /// Node `nodeId` left at `epochMillis`.
    case departed(nodeId: String, epochMillis: Int64)
    /// Node `nodeId` joined again (or never left).
    case rejoined(nodeId: String)
}
