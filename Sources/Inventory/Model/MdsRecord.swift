/// One MDS (metadata server) node of a ZBS primary storage, as ZStack's `MdsInfo` describes it minus the SSH
/// credentials, which this worker never needs.
public struct MdsRecord: Sendable, Hashable, Codable {
    /// `Zbs.primaryStorageAgent.port`: where the ZBS agent on an MDS listens unless the inventory says otherwise.
    public static let defaultAgentPort = 7763

    /// Host name or IP literal (IPv6 without brackets): the MDS identity, used for agent HTTP and for
    /// targeted calls (`cleannbd`). Unique within a primary storage.
    public var addr: String
    public var status: MdsStatus
    /// TCP port of the ZBS agent on this MDS, 1...65535. Default: 7763.
    public var agentPort: Int

    public init(addr: String, status: MdsStatus, agentPort: Int = MdsRecord.defaultAgentPort) {
        self.addr = addr
        self.status = status
        self.agentPort = agentPort
    }
}
