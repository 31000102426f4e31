import CloudBus

/// Capacity of one logical pool as `/capacity` reports it (bytes).
public struct ZbsPoolCapacity: Sendable, Hashable, Codable {
    public var logicalPoolName: String
    public var physicalPoolName: String?
    public var capacity: Int64
    public var usedSize: Int64

    public init(logicalPoolName: String, physicalPoolName: String? = nil, capacity: Int64, usedSize: Int64) {
        self.logicalPoolName = logicalPoolName
        self.physicalPoolName = physicalPoolName
        self.capacity = capacity
        self.usedSize = usedSize
    }

    /// `capacity - usedSize`, never negative.
    public var available: Int64 { max(0, capacity - usedSize) }
}
