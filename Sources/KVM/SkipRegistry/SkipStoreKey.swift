import Inventory

/// One row (or group of rows) of the persisted skip registry, named so that a lost write can be redone from memory.
///
/// After a failed batch the registry does not rewrite the whole table (other workers of a fleet write it too, and a
/// full rewrite would erase what they recorded and this worker has not consumed yet): it remembers the keys the lost
/// changes touched and writes, for each, the value memory holds now. Changes are absolute, so the latest value is
/// all the store needs.
enum SkipStoreKey: Hashable, Sendable {
    case operations(nodeId: String, vmUuid: String)
    case apiId(nodeId: String, apiId: String)
    /// Every row of the node (its NodeLeft or NodeJoin removed them).
    case node(String)
    case orphan(vmUuid: String)
    case departed(nodeId: String)
    /// The trimming of long-expired orphans (idempotent; redone as it was).
    case forgetOrphans(olderThanMillis: Int64)

    init(_ change: SkipEntryChange) {
        switch change {
        case .operations(let nodeId, let vmUuid, _): self = .operations(nodeId: nodeId, vmUuid: vmUuid)
        case .apiId(let nodeId, let apiId, _), .removeApiId(let nodeId, let apiId):
            self = .apiId(nodeId: nodeId, apiId: apiId)
        case .removeNode(let nodeId): self = .node(nodeId)
        case .orphan(let vmUuid, _), .removeOrphan(let vmUuid): self = .orphan(vmUuid: vmUuid)
        case .forgetOrphans(let olderThanMillis): self = .forgetOrphans(olderThanMillis: olderThanMillis)
        case .departed(let nodeId, _), .rejoined(let nodeId): self = .departed(nodeId: nodeId)
        }
    }
}
