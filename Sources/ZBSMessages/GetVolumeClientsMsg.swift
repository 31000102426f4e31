import CloudBus

/// `cloudbus.worker.zbs.GetVolumeClientsMsg`: **Ours.** `/volume/clients` of one volume (ZStack `getActiveClients`):
/// sync path, try-next, one attempt deadline (30 s) per Connected MDS. Executor key: the volume (`zbs://lp/vol`).
public struct GetVolumeClientsMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.GetVolumeClientsMsg"

    public var primaryStorageUuid: String
    /// `zbs://lp/vol`.
    public var installPath: String

    public init(primaryStorageUuid: String, installPath: String) {
        self.primaryStorageUuid = primaryStorageUuid
        self.installPath = installPath
    }
}

/// `cloudbus.worker.zbs.GetVolumeClientsReply`: The clients holding the volume open (empty when none).
public struct GetVolumeClientsReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.GetVolumeClientsReply"

    public var clients: [ZbsVolumeClient]
    public var success: Bool
    public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(clients: [ZbsVolumeClient] = [], error: ErrorCode? = nil) {
        self.clients = clients
        self.success = error == nil
        self.canceled = false
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case clients, success, canceled, error }

    /// Absent fields take Java's initialisers (`success` true, lists empty, numbers 0).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        clients = try container.decodeIfPresent([ZbsVolumeClient].self, forKey: .clients) ?? []
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        canceled = try container.decodeIfPresent(Bool.self, forKey: .canceled) ?? false
        error = try container.decodeIfPresent(ErrorCode.self, forKey: .error)
    }
}
