/// A ZBS logical pool and the physical pool it lives in: what turns a ZStack install path
/// (`zbs://<logical>/<volume>`) into the agent's (`cbd:<physical>/<logical>/<volume>`).
public struct ZbsLogicalPool: Sendable, Hashable, Codable {
    public var logicalPoolName: String
    public var physicalPoolName: String

    public init(logicalPoolName: String, physicalPoolName: String) {
        self.logicalPoolName = logicalPoolName
        self.physicalPoolName = physicalPoolName
    }
}
