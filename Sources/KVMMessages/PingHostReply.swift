import CloudBus

/// `org.zstack.header.host.PingHostReply`.
///
/// A ping whose agent did not answer is still a *successful* reply with `connected == false` (and `error` set to
/// the first failure); `success == false` means the ping itself could not be carried out.
public struct PingHostReply: BusReply, Hashable {
    public static let className = "org.zstack.header.host.PingHostReply"

    @DefaultFalse public var connected: Bool
    public var currentHostStatus: HostStatus?
    /// Tells the tracker not to reconnect (e.g. the host row is gone).
    @DefaultFalse public var noReconnect: Bool
    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
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
}
