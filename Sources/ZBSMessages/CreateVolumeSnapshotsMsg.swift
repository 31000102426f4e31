import CloudBus

/// `cloudbus.worker.zbs.CreateVolumeSnapshotsMsg`: **Ours.** A batch of `/snapshot/create`, one per volume in order.
/// Every volume must be attached to a VM, else the batch fails before any HTTP with "cannot take snapshot for
/// volumes[{0}]: volume[uuid:{1}] is not attached to any VM" (`locale` zh_CN: "无法为云盘[{0}]创建快照：云盘[uuid:{1}]未挂载到任何云主机").
/// Executor key: the volume for a one-volume batch, else the storage uuid.
public struct CreateVolumeSnapshotsMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.CreateVolumeSnapshotsMsg"

    public var primaryStorageUuid: String
    public var snapshotName: String
    public var volumes: [ZbsSnapshotJob]
    /// `en_US` (default) or `zh_CN`: language of the error details.
    public var locale: String?

    public init(primaryStorageUuid: String, snapshotName: String, volumes: [ZbsSnapshotJob], locale: String? = nil) {
        self.primaryStorageUuid = primaryStorageUuid
        self.snapshotName = snapshotName
        self.volumes = volumes
        self.locale = locale
    }
}

/// `cloudbus.worker.zbs.CreateVolumeSnapshotsReply`: The snapshots taken, in batch order.
public struct CreateVolumeSnapshotsReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.CreateVolumeSnapshotsReply"

    public var snapshots: [ZbsSnapshotResult]
    public var success: Bool
    public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(snapshots: [ZbsSnapshotResult] = [], error: ErrorCode? = nil) {
        self.snapshots = snapshots
        self.success = error == nil
        self.canceled = false
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case snapshots, success, canceled, error }

    /// Absent fields take Java's initialisers (`success` true, lists empty, numbers 0).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        snapshots = try container.decodeIfPresent([ZbsSnapshotResult].self, forKey: .snapshots) ?? []
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        canceled = try container.decodeIfPresent(Bool.self, forKey: .canceled) ?? false
        error = try container.decodeIfPresent(ErrorCode.self, forKey: .error)
    }
}
