import CloudBus

/// A ZBS primary storage as `UpdateZbsPrimaryStorageMsg` carries it: uuid, MDS list and pools (no credentials).
public struct ZbsPrimaryStorageInventory: Sendable, Hashable, Codable {
    /// One MDS: `addr`, `status` (`Connecting`, `Connected`, `Disconnected`), `agentPort` (absent: 7763).
    public struct Mds: Sendable, Hashable, Codable {
        public var addr: String
        public var status: String
        public var agentPort: Int?

        public init(addr: String, status: String, agentPort: Int? = nil) {
            self.addr = addr
            self.status = status
            self.agentPort = agentPort
        }
    }

    /// A logical pool and its physical pool.
    public struct LogicalPool: Sendable, Hashable, Codable {
        public var logicalPoolName: String
        public var physicalPoolName: String

        public init(logicalPoolName: String, physicalPoolName: String) {
            self.logicalPoolName = logicalPoolName
            self.physicalPoolName = physicalPoolName
        }
    }

    public var uuid: String
    public var mds: [Mds]
    public var logicalPools: [LogicalPool]?

    public init(uuid: String, mds: [Mds], logicalPools: [LogicalPool]? = nil) {
        self.uuid = uuid
        self.mds = mds
        self.logicalPools = logicalPools
    }
}
