import CloudBus

/// `cloudbus.worker.zbs.QueryVolumeMsg`: **Ours.** `/volume/query` (ZStack `stats`), try-next. Executor key: the
/// volume.
public struct QueryVolumeMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.QueryVolumeMsg"

    public var primaryStorageUuid: String
    public var installPath: String

    public init(primaryStorageUuid: String, installPath: String) {
        self.primaryStorageUuid = primaryStorageUuid
        self.installPath = installPath
    }
}

/// `cloudbus.worker.zbs.QueryVolumeReply`: Size, actual size, parent.
public struct QueryVolumeReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.QueryVolumeReply"

    public var size: Int64?
    public var actualSize: Int64?
    /// `zbs://` form.
    public var parentUri: String?
    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(size: Int64? = nil, actualSize: Int64? = nil, parentUri: String? = nil, error: ErrorCode? = nil) {
        self.size = size
        self.actualSize = actualSize
        self.parentUri = parentUri
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
