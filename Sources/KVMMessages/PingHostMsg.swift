import CloudBus

/// `org.zstack.header.host.PingHostMsg`: the host tracker asks the host service whether the host's agent answers.
/// Sent to `host.<node>` where `<node>` owns `hostUuid` on the hash ring; answered with `PingHostReply`.
public struct PingHostMsg: BusMessage, Hashable {
    public static let className = "org.zstack.header.host.PingHostMsg"

    public var hostUuid: String

    public init(hostUuid: String) {
        self.hostUuid = hostUuid
    }
}
