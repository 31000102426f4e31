import CloudBus

/// Content of `/host/disconnected` (`HostCanonicalEvents$HostDisconnectedData`): a host the cloud had as connected
/// stopped answering its pings (or answers for another host). Fired once per change to Disconnected, never again
/// while it stays Disconnected. HA and the UI listen to it.
public struct HostDisconnectedData: CanonicalEventContent, Hashable {
    public static let path = "/host/disconnected"
    public static let className = "org.zstack.header.host.HostCanonicalEvents$HostDisconnectedData"

    public var hostUuid: String
    public var reason: ErrorCode?

    public init(hostUuid: String, reason: ErrorCode?) {
        self.hostUuid = hostUuid
        self.reason = reason
    }

    public var nestedSchema: [String: String] {
        reason == nil ? [:] : ["reason": ErrorCode.javaClassName]
    }
}

/// `org.zstack.header.host.ReconnectHostMsg`: asks the host's owner to reconnect it. The ping handler sends it
/// when the agent answers for another host (the agent was re-deployed for a different host record); answered with
/// ``ReconnectHostReply``.
public struct ReconnectHostMsg: BusMessage, Hashable {
    public static let className = "org.zstack.header.host.ReconnectHostMsg"

    public var hostUuid: String
    public var skipIfHostConnected: Bool?

    public init(hostUuid: String, skipIfHostConnected: Bool? = nil) {
        self.hostUuid = hostUuid
        self.skipIfHostConnected = skipIfHostConnected
    }
}

/// `org.zstack.header.host.ReconnectHostReply`.
public struct ReconnectHostReply: BusReply, Hashable {
    public static let className = "org.zstack.header.host.ReconnectHostReply"

    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    public init(error: ErrorCode? = nil) {
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
