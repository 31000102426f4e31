import CloudBus

/// `cloudbus.worker.zbs.RollbackVolumeSnapshotMsg`: **Ours.** `/snapshot/rollback` of the volume to
/// `zbs://lp/vol@snap`. Executor key: the volume.
public struct RollbackVolumeSnapshotMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.RollbackVolumeSnapshotMsg"

    public var primaryStorageUuid: String
    public var installPath: String

    public init(primaryStorageUuid: String, installPath: String) {
        self.primaryStorageUuid = primaryStorageUuid
        self.installPath = installPath
    }
}

/// `cloudbus.worker.zbs.RollbackVolumeSnapshotReply`: The volume after the rollback.
public struct RollbackVolumeSnapshotReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.RollbackVolumeSnapshotReply"

    public var installPath: String?
    public var size: Int64?
    public var actualSize: Int64?
    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(installPath: String? = nil, size: Int64? = nil, actualSize: Int64? = nil, error: ErrorCode? = nil) {
        self.installPath = installPath
        self.size = size
        self.actualSize = actualSize
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
