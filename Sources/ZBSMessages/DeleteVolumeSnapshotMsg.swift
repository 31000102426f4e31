import CloudBus

/// `cloudbus.worker.zbs.DeleteVolumeSnapshotMsg`: **Ours.** `/snapshot/delete` of `zbs://lp/vol@snap`. Executor key:
/// the volume.
public struct DeleteVolumeSnapshotMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.DeleteVolumeSnapshotMsg"

    public var primaryStorageUuid: String
    public var installPath: String

    public init(primaryStorageUuid: String, installPath: String) {
        self.primaryStorageUuid = primaryStorageUuid
        self.installPath = installPath
    }
}

/// `cloudbus.worker.zbs.DeleteVolumeSnapshotReply`: Success or the error.
public struct DeleteVolumeSnapshotReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.DeleteVolumeSnapshotReply"

    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(error: ErrorCode? = nil) {
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
