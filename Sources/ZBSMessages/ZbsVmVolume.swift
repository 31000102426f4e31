import CloudBus

/// One volume of a VM about to start, as the anti-split-brain check needs it.
public struct ZbsVmVolume: Sendable, Hashable, Codable {
    public var volumeUuid: String
    public var primaryStorageUuid: String
    /// `zbs://lp/vol`; volumes without one are skipped, as ZStack does.
    public var installPath: String?
    /// Shareable volumes may be open on several hosts by design: skipped. Absent: false.
    public var shareable: Bool

    public init(volumeUuid: String, primaryStorageUuid: String, installPath: String?, shareable: Bool = false) {
        self.volumeUuid = volumeUuid
        self.primaryStorageUuid = primaryStorageUuid
        self.installPath = installPath
        self.shareable = shareable
    }

    enum CodingKeys: String, CodingKey { case volumeUuid, primaryStorageUuid, installPath, shareable }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        volumeUuid = try container.decode(String.self, forKey: .volumeUuid)
        primaryStorageUuid = try container.decode(String.self, forKey: .primaryStorageUuid)
        installPath = try container.decodeIfPresent(String.self, forKey: .installPath)
        shareable = try container.decodeIfPresent(Bool.self, forKey: .shareable) ?? false
    }
}
