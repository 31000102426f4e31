import CloudBus

/// `cloudbus.worker.zbs.GetCapacityMsg`: **Ours.** `/capacity` (ZStack `getCapacity`), try-next. Executor key: the
/// storage uuid.
public struct GetZbsCapacityMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.GetCapacityMsg"

    public var primaryStorageUuid: String
    /// Absent: every pool of the storage.
    public var logicalPoolNames: [String]?

    public init(primaryStorageUuid: String, logicalPoolNames: [String]? = nil) {
        self.primaryStorageUuid = primaryStorageUuid
        self.logicalPoolNames = logicalPoolNames
    }
}

/// `cloudbus.worker.zbs.GetCapacityReply`: Per-pool capacity and totals (bytes).
public struct GetZbsCapacityReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.GetCapacityReply"

    public var pools: [ZbsPoolCapacity]
    public var totalCapacity: Int64
    public var availableCapacity: Int64
    public var success: Bool
    public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(pools: [ZbsPoolCapacity] = [], totalCapacity: Int64 = 0, availableCapacity: Int64 = 0, error: ErrorCode? = nil) {
        self.pools = pools
        self.totalCapacity = totalCapacity
        self.availableCapacity = availableCapacity
        self.success = error == nil
        self.canceled = false
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case pools, totalCapacity, availableCapacity, success, canceled, error }

    /// Absent fields take Java's initialisers (`success` true, lists empty, numbers 0).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        pools = try container.decodeIfPresent([ZbsPoolCapacity].self, forKey: .pools) ?? []
        totalCapacity = try container.decodeIfPresent(Int64.self, forKey: .totalCapacity) ?? 0
        availableCapacity = try container.decodeIfPresent(Int64.self, forKey: .availableCapacity) ?? 0
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        canceled = try container.decodeIfPresent(Bool.self, forKey: .canceled) ?? false
        error = try container.decodeIfPresent(ErrorCode.self, forKey: .error)
    }
}
