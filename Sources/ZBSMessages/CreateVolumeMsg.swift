import CloudBus

/// `cloudbus.worker.zbs.CreateVolumeMsg`: **Ours.** `/volume/create` (ZStack `createVolume`). Size: `size` when given;
/// else a root volume's allocation: `rootDiskOfferingSize` when given, else `max(imageSize, imageActualSize ?? 0)`.
/// Executor key: the volume (`zbs://<logicalPool>/<volumeName>`).
public struct CreateVolumeMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.CreateVolumeMsg"

    public var primaryStorageUuid: String
    public var logicalPool: String
    /// Usually the volume uuid.
    public var volumeName: String
    /// Bytes.
    public var size: Int64?
    /// Image virtual size, bytes.
    public var imageSize: Int64?
    /// Image actual size, bytes; null counts as 0.
    public var imageActualSize: Int64?
    /// Root disk offering size, bytes.
    public var rootDiskOfferingSize: Int64?

    public init(primaryStorageUuid: String, logicalPool: String, volumeName: String, size: Int64? = nil, imageSize: Int64? = nil, imageActualSize: Int64? = nil, rootDiskOfferingSize: Int64? = nil) {
        self.primaryStorageUuid = primaryStorageUuid
        self.logicalPool = logicalPool
        self.volumeName = volumeName
        self.size = size
        self.imageSize = imageSize
        self.imageActualSize = imageActualSize
        self.rootDiskOfferingSize = rootDiskOfferingSize
    }
}

/// `cloudbus.worker.zbs.CreateVolumeReply`: The created volume.
public struct CreateVolumeReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.CreateVolumeReply"

    /// `zbs://lp/vol`.
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
