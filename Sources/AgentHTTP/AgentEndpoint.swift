/// Where a remote agent listens: a host name or IP address and a TCP port.
///
/// Agents are addressed by the management IP the inventory stores for a host (KVM agent port 7070) or an MDS
/// (ZBS agent port 7763). The description `host:port` is what every ``AgentHTTPError`` names.
public struct AgentEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address (IPv6 literals without brackets).
    public var host: String
    /// TCP port.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with IPv6 literals in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `http://host:port` followed by `path` (which should start with `/`).
    public func url(path: String) -> String {
        "http://\(description)\(path)"
    }
}
