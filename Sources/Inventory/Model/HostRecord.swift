import Primitives

/// What the cloud expects of one KVM host: where its agent listens and whether it is connected.
///
/// A plain value with no storage behaviour, so every `HostStore` backend (SQLite now, PostgreSQL later) hands out
/// the same type. Stores validate a record with ``validate()`` before they keep it, so a record read back from a
/// store always satisfies those rules.
public struct HostRecord: Sendable, Hashable, Codable {
    /// The port the ZStack KVM agent listens on unless the inventory says otherwise.
    public static let defaultAgentPort = 7070

    /// ZStack resource uuid: 32 lowercase hexadecimal digits, no dashes.
    public var uuid: String
    /// IPv4 or IPv6 literal (without brackets) or host name of the agent; the KVM module builds agent URLs from it.
    public var managementIp: String
    /// TCP port of the host agent, 1...65535. Default: 7070.
    public var agentPort: Int
    public var status: HostStatus
    public var clusterUuid: String?
    /// Display name, for logs only.
    public var name: String?

    public init(
        uuid: String,
        managementIp: String,
        agentPort: Int = HostRecord.defaultAgentPort,
        status: HostStatus,
        clusterUuid: String? = nil,
        name: String? = nil
    ) {
        self.uuid = uuid
        self.managementIp = managementIp
        self.agentPort = agentPort
        self.status = status
        self.clusterUuid = clusterUuid
        self.name = name
    }

    /// Every rule this record breaks, in field order; empty when the record may be stored.
    ///
    /// Rules: `uuid` and `clusterUuid` (when set) are ZStack uuids, `managementIp` is an IP literal or host name,
    /// `agentPort` is in 1...65535. `index` is copied into each problem so import errors can name the entry.
    public func problems(index: Int? = nil) -> [InventoryFieldProblem] {
        var found: [InventoryFieldProblem] = []
        func note(_ field: String, _ value: String, _ reason: String) {
            found.append(InventoryFieldProblem(entity: .host, index: index, field: field, value: value, reason: reason))
        }
        if let reason = ZStackUUID.problem(uuid) { note("uuid", uuid, reason) }
        if let reason = AgentAddress.problem(managementIp) { note("managementIp", managementIp, reason) }
        if !(1...65535).contains(agentPort) { note("agentPort", String(agentPort), "must be a TCP port in 1...65535") }
        if let clusterUuid, let reason = ZStackUUID.problem(clusterUuid) { note("clusterUuid", clusterUuid, reason) }
        return found
    }

    /// Throws ``InventoryError/invalidRecords(_:)`` listing every rule this record breaks.
    public func validate() throws(InventoryError) {
        let found = problems()
        if !found.isEmpty { throw .invalidRecords(found) }
    }
}
