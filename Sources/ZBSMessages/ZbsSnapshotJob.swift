import CloudBus

/// One volume of a batch snapshot: which volume, where it lives, and the VM it is attached to (nil: unattached).
public struct ZbsSnapshotJob: Sendable, Hashable, Codable {
    public var volumeUuid: String
    /// `zbs://lp/vol`.
    public var installPath: String
    public var vmInstanceUuid: String?

    public init(volumeUuid: String, installPath: String, vmInstanceUuid: String?) {
        self.volumeUuid = volumeUuid
        self.installPath = installPath
        self.vmInstanceUuid = vmInstanceUuid
    }
}

/// One snapshot taken by a batch.
public struct ZbsSnapshotResult: Sendable, Hashable, Codable {
    public var volumeUuid: String
    /// `zbs://lp/vol@snap`.
    public var installPath: String?
    public var size: Int64?
    public var actualSize: Int64?

    public init(volumeUuid: String, installPath: String?, size: Int64?, actualSize: Int64?) {
        self.volumeUuid = volumeUuid
        self.installPath = installPath
        self.size = size
        self.actualSize = actualSize
    }
}
