/// `org.zstack.header.host.PingHostReply`.
///
/// A ping whose agent did not answer is still a *successful* reply with `connected == false` (and `error` set to
/// the first failure); `success == false` means the ping itself could not be carried out.
public struct PingHostReply: BusReply, Hashable {
    public static let className = "org.zstack.header.host.PingHostReply"

    public var connected: Bool
    public var currentHostStatus: HostStatus?
    /// Tells the tracker not to reconnect (e.g. the host row is gone).
    public var noReconnect: Bool
    public var success: Bool
    public var canceled: Bool
    public var error: ErrorCode?

    public init(
        connected: Bool,
        currentHostStatus: HostStatus?,
        noReconnect: Bool = false,
        success: Bool = true,
        canceled: Bool = false,
        error: ErrorCode? = nil
    ) {
        self.connected = connected
        self.currentHostStatus = currentHostStatus
        self.noReconnect = noReconnect
        self.success = success
        self.canceled = canceled
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case connected, currentHostStatus, noReconnect, success, canceled, error
    }

    /// Absent booleans take Java's initialisers: `connected`/`noReconnect`/`canceled` false, `success` true.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        connected = try container.decodeIfPresent(Bool.self, forKey: .connected) ?? false
        currentHostStatus = try container.decodeIfPresent(HostStatus.self, forKey: .currentHostStatus)
        noReconnect = try container.decodeIfPresent(Bool.self, forKey: .noReconnect) ?? false
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        canceled = try container.decodeIfPresent(Bool.self, forKey: .canceled) ?? false
        error = try container.decodeIfPresent(ErrorCode.self, forKey: .error)
    }
}
