import CloudBus

/// `cloudbus.worker.zbs.DeleteVolumeMsg`: **Ours.** Checks `/volume/clients` first (an open volume is not deleted: ZBS
/// can neither deactivate nor blacklist a client), then `/volume/delete` (`force` true deletes, false moves to the
/// trash). Executor key: the volume.
public struct DeleteVolumeMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.DeleteVolumeMsg"

    public var primaryStorageUuid: String
    public var installPath: String
    /// Absent: false (trash).
    public var force: Bool

    public init(primaryStorageUuid: String, installPath: String, force: Bool = false) {
        self.primaryStorageUuid = primaryStorageUuid
        self.installPath = installPath
        self.force = force
    }

    enum CodingKeys: String, CodingKey { case primaryStorageUuid, installPath, force }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        primaryStorageUuid = try container.decode(String.self, forKey: .primaryStorageUuid)
        installPath = try container.decode(String.self, forKey: .installPath)
        force = try container.decodeIfPresent(Bool.self, forKey: .force) ?? false
    }
}

/// `cloudbus.worker.zbs.DeleteVolumeReply`: Success or the error.
public struct DeleteVolumeReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.DeleteVolumeReply"

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
