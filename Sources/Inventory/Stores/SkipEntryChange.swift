/// One change to the persisted skip registry. Every case states the resulting value (not a delta), so applying
/// the same change twice leaves the same rows — which is what lets every worker of a fleet write the same
/// broadcast events to one shared store.
///
/// Times are ages, not timestamps: the store stamps a row with **its own clock** minus the age when it applies the
/// change (PostgreSQL's `clock_timestamp()`, SQLite's host clock), so orphan TTLs of a fleet are measured on one
/// clock whatever the workers' clocks say.
public enum SkipEntryChange: Sendable, Hashable {
    /// Node `nodeId` has `operations` operations in flight on `vmUuid`; 0 deletes the row.
    case operations(nodeId: String, vmUuid: String, count: Int)
    /// Records the VM of API message `apiId` of node `nodeId`.
    case apiId(nodeId: String, apiId: String, vmUuid: String)
    /// Forgets API message `apiId` of node `nodeId`.
    case removeApiId(nodeId: String, apiId: String)
    /// Forgets every operation row and API id of node `nodeId`.
    case removeNode(nodeId: String)
    /// `vmUuid` is orphaned since `ageMillis` ago (0: now), replacing an older time.
    case orphan(vmUuid: String, ageMillis: Int64)
    /// `vmUuid`'s orphan was continued: the row is deleted. (An orphan that *expires* keeps its row until
    /// ``forgetOrphans(olderThanMillis:)``: its age tells every worker that it expired recently.)
    case removeOrphan(vmUuid: String)
    /// Deletes the orphan rows older than `olderThanMillis` (the TTL plus the window in which an expiry still
    /// makes a Stopped verdict suspect).
    case forgetOrphans(olderThanMillis: Int64)
    /// Node `nodeId` left `ageMillis` ago.
    case departed(nodeId: String, ageMillis: Int64)
    /// Node `nodeId` joined again (or never left).
    case rejoined(nodeId: String)
}
