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

    public var success: Bool
    public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(error: ErrorCode? = nil) {
        self.success = error == nil
        self.canceled = false
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case success, canceled, error }

    /// Absent fields take Java's initialisers (`success` true, lists empty, numbers 0).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        canceled = try container.decodeIfPresent(Bool.self, forKey: .canceled) ?? false
        error = try container.decodeIfPresent(ErrorCode.self, forKey: .error)
    }
}
