import CloudBus

/// `cloudbus.worker.zbs.ExpandVolumeMsg`: **Ours.** `/volume/expand` to `size` bytes. Executor key: the volume.
public struct ExpandVolumeMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.ExpandVolumeMsg"

    public var primaryStorageUuid: String
    public var installPath: String
    /// Bytes.
    public var size: Int64

    public init(primaryStorageUuid: String, installPath: String, size: Int64) {
        self.primaryStorageUuid = primaryStorageUuid
        self.installPath = installPath
        self.size = size
    }
}

/// `cloudbus.worker.zbs.ExpandVolumeReply`: The new size.
public struct ExpandVolumeReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.ExpandVolumeReply"

    public var size: Int64?
    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(size: Int64? = nil, error: ErrorCode? = nil) {
        self.size = size
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
