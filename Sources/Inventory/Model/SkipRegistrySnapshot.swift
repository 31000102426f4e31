/// Everything the skip registry persists, as it stands: what every management node has in flight, the API ids of
/// those operations, the orphans of departed nodes and the nodes known to have left.
///
/// Timestamps are wall-clock milliseconds since the epoch (the registry's own clock is monotonic and does not
/// survive a restart, so it converts on write and on load).
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

/// `vmUuid` was in flight on a node that left (or restarted) at `orphanedAtEpochMillis`.
public struct OrphanRecord: Sendable, Hashable {
    public var vmUuid: String
    public var orphanedAtEpochMillis: Int64

    public init(vmUuid: String, orphanedAtEpochMillis: Int64) {
        self.vmUuid = vmUuid
        self.orphanedAtEpochMillis = orphanedAtEpochMillis
    }
}

/// Node `nodeId` left at `leftAtEpochMillis` and has not joined since (its late skip events become orphans).
public struct DepartedNodeRecord: Sendable, Hashable {
    public var nodeId: String
    public var leftAtEpochMillis: Int64

    public init(nodeId: String, leftAtEpochMillis: Int64) {
        self.nodeId = nodeId
        self.leftAtEpochMillis = leftAtEpochMillis
    }
}
