import Primitives

/// A ZBS primary storage as the worker needs it to call its MDS: the uuid every MDS request carries, the MDS
/// nodes in configured order (the order carries no preference: calls shuffle), and the pools for path conversion.
///
/// Stores validate a record with ``problems(index:)`` before they keep it, so a record read back always has a
/// ZStack uuid, at least one MDS, no MDS twice (same addr and port), valid ports, and unique non-empty pool names.
public struct ZbsPrimaryStorageRecord: Sendable, Hashable, Codable {
    /// ZStack resource uuid: 32 lowercase hexadecimal digits, no dashes.
    public var uuid: String
    public var mds: [MdsRecord]
    public var logicalPools: [ZbsLogicalPool]

    public init(uuid: String, mds: [MdsRecord], logicalPools: [ZbsLogicalPool] = []) {
        self.uuid = uuid
        self.mds = mds
        self.logicalPools = logicalPools
    }

    /// The physical pool of `logicalPool`, or nil when the storage has no such logical pool.
    public func physicalPool(of logicalPool: String) -> String? {
        logicalPools.first { $0.logicalPoolName == logicalPool }?.physicalPoolName
    }

    /// Every rule this record breaks, in field order; empty when the record may be stored. `index` is copied into
    /// each problem so import errors can name the entry (`zbsPrimaryStorages[0].mds[1].addr`).
    public func problems(index: Int? = nil) -> [InventoryFieldProblem] {
        var found: [InventoryFieldProblem] = []
        func note(_ field: String, _ value: String, _ reason: String) {
            found.append(InventoryFieldProblem(
                entity: .zbsPrimaryStorage, index: index, field: field, value: value, reason: reason))
        }
        if let reason = ZStackUUID.problem(uuid) { note("uuid", uuid, reason) }
        if mds.isEmpty { note("mds", "", "must list at least one MDS") }
        var seenEndpoints: [String: Int] = [:]
        for (position, node) in mds.enumerated() {
            if let reason = AgentAddress.problem(node.addr) { note("mds[\(position)].addr", node.addr, reason) }
            // ZStack forbids a repeated addr; the worker identifies an MDS by its agent endpoint, so it only
            // forbids a repeated addr and port (several fake MDS on one loopback address are then possible).
            let key = "\(node.addr) \(node.agentPort)"
            if let first = seenEndpoints[key] {
                note("mds[\(position)].addr", node.addr,
                     "repeats mds[\(first)] (same addr and agentPort: do not allow duplicate MDS)")
            } else {
                seenEndpoints[key] = position
            }
            if !(1...65535).contains(node.agentPort) {
                note("mds[\(position)].agentPort", String(node.agentPort), "must be a TCP port in 1...65535")
            }
        }
        var seenPools: [String: Int] = [:]
        for (position, pool) in logicalPools.enumerated() {
            if pool.logicalPoolName.isEmpty || pool.logicalPoolName.contains("/") {
                note("logicalPools[\(position)].logicalPoolName", pool.logicalPoolName, "must be non-empty without '/'")
            }
            if pool.physicalPoolName.isEmpty || pool.physicalPoolName.contains("/") {
                note("logicalPools[\(position)].physicalPoolName", pool.physicalPoolName,
                     "must be non-empty without '/'")
            }
            if let first = seenPools[pool.logicalPoolName] {
                note("logicalPools[\(position)].logicalPoolName", pool.logicalPoolName,
                     "repeats logicalPools[\(first)].logicalPoolName")
            } else {
                seenPools[pool.logicalPoolName] = position
            }
        }
        return found
    }
}
