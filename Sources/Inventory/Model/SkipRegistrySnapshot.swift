/// Everything the skip registry persists, as it stands: what every management node has in flight, the API ids of
/// those operations, the orphans of departed nodes and the nodes known to have left.
///
/// Times are ages in milliseconds, computed by the store on its own clock when it loads (the registry's clock is
/// monotonic and does not survive a restart; the store's clock is the one every worker of a fleet shares).
public struct SkipRegistrySnapshot: Sendable, Hashable {
    public var entries: [SkipEntryRecord]
    public var apiIds: [SkipApiRecord]
    public var orphans: [OrphanRecord]
    public var departedNodes: [DepartedNodeRecord]

    public init(
        entries: [SkipEntryRecord] = [], apiIds: [SkipApiRecord] = [], orphans: [OrphanRecord] = [],
        departedNodes: [DepartedNodeRecord] = []
    ) {
        self.entries = entries
        self.apiIds = apiIds
        self.orphans = orphans
        self.departedNodes = departedNodes
    }

    public var isEmpty: Bool { entries.isEmpty && apiIds.isEmpty && orphans.isEmpty && departedNodes.isEmpty }
}

/// `operations` skipped operations of node `nodeId` are in flight on `vmUuid` (always > 0 when stored).
public struct SkipEntryRecord: Sendable, Hashable {
    public var nodeId: String
    public var vmUuid: String
    public var operations: Int

    public init(nodeId: String, vmUuid: String, operations: Int) {
        self.nodeId = nodeId
        self.vmUuid = vmUuid
        self.operations = operations
    }
}

/// The API message `apiId` that node `nodeId` runs on `vmUuid` (its continue-trace may carry only the API id).
public struct SkipApiRecord: Sendable, Hashable {
    public var nodeId: String
    public var apiId: String
    public var vmUuid: String

    public init(nodeId: String, apiId: String, vmUuid: String) {
        self.nodeId = nodeId
        self.apiId = apiId
        self.vmUuid = vmUuid
    }
}

/// `vmUuid` was in flight on a node that left (or restarted) `ageMillis` ago (never negative: a row stamped in
/// the store clock's future counts as age 0). Rows stay past the TTL until forgotten, so a loaded orphan may
/// already be expired.
public struct OrphanRecord: Sendable, Hashable {
    public var vmUuid: String
    public var ageMillis: Int64

    public init(vmUuid: String, ageMillis: Int64) {
        self.vmUuid = vmUuid
        self.ageMillis = ageMillis
    }
}

/// Node `nodeId` left `ageMillis` ago and has not joined since (its late skip events become orphans).
public struct DepartedNodeRecord: Sendable, Hashable {
    public var nodeId: String
    public var ageMillis: Int64

    public init(nodeId: String, ageMillis: Int64) {
        self.nodeId = nodeId
        self.ageMillis = ageMillis
    }
}
