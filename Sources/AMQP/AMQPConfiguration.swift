import Foundation

/// Where and how to reach the broker. Value type with documented defaults, so a daemon can
/// build it from file < environment < flags and log it without the password.
public struct AMQPConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var virtualHost: String
    public var user: String
    /// Never logged; `description` redacts it.
    public var password: String
    public var tls: TLSOptions?
    /// Heartbeat requested from the broker. Default: 30 seconds. Zero disables heartbeats.
    public var heartbeat: Duration
    /// Bound on socket connect and on every synchronous broker RPC. Default: 10 seconds.
    public var connectTimeout: Duration
    /// Reconnect backoff: first delay, growth factor 2, cap, with ±20 % jitter. Default: 100 ms to 30 s.
    public var reconnectInitialDelay: Duration
    public var reconnectMaxDelay: Duration
    /// Shown in the broker's management UI to tell connections apart.
    public var connectionName: String
    /// How long `publish` waits for the broker's confirm before it fails with ``AMQPError/confirmTimeout``: a broker
    /// that blocks publishers (memory or disk alarm) never confirms, and a caller must not wait forever. The message
    /// may still reach its queue; a caller that retries publishes it at least once more. Default: 30 seconds.
    public var confirmTimeout: Duration = .seconds(30)

    public struct TLSOptions: Sendable, Equatable {
        /// PEM CA bundle used to verify the broker. Nil means the system store is not consulted:
        /// rabbitmq-c 0.11 requires an explicit CA file for verification.
        public var caCertificatePath: String?
        public var clientCertificatePath: String?
        public var clientKeyPath: String?
        /// Default: true. Turning it off is for test brokers only.
        public var verifyPeer: Bool
        public var verifyHostname: Bool

        public init(caCertificatePath: String? = nil, clientCertificatePath: String? = nil,
                    clientKeyPath: String? = nil, verifyPeer: Bool = true, verifyHostname: Bool = true) {
            self.caCertificatePath = caCertificatePath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    public init(host: String = "127.0.0.1", port: Int? = nil, virtualHost: String = "/",
                user: String = "guest", password: String = "guest", tls: TLSOptions? = nil,
                heartbeat: Duration = .seconds(30), connectTimeout: Duration = .seconds(10),
                reconnectInitialDelay: Duration = .milliseconds(100), reconnectMaxDelay: Duration = .seconds(30),
                connectionName: String = "cloudbus-worker") {
        self.host = host
        self.port = port ?? (tls == nil ? 5672 : 5671)
        self.virtualHost = virtualHost
        self.user = user
        self.password = password
        self.tls = tls
        self.heartbeat = heartbeat
        self.connectTimeout = connectTimeout
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaxDelay = reconnectMaxDelay
        self.connectionName = connectionName
    }

    /// Parses `amqp://user:pass@host:port/vhost` and `amqps://…` (RFC 3986 percent-encoding;
    /// an empty path means vhost "/", `%2F` is "/"). TLS options other than on/off come from elsewhere.
    public init(url: String) throws(AMQPError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "amqp" || scheme == "amqps"
        else { throw .invalidURL(url: Self.redact(url), reason: "expected amqp:// or amqps://") }
        let secure = scheme == "amqps"
        let host = components.host.map { $0.isEmpty ? "127.0.0.1" : $0 } ?? "127.0.0.1"
        if let port = components.port, !(1...65535).contains(port) {
            throw .invalidURL(url: Self.redact(url), reason: "port \(port) out of range")
        }
        var vhost = "/"
        let rawPath = components.percentEncodedPath
        if rawPath.count > 1 {
            let encoded = String(rawPath.dropFirst())
            if encoded.contains("/") {
                throw .invalidURL(url: Self.redact(url), reason: "vhost must be one path segment (use %2F for '/')")
            }
            vhost = encoded.removingPercentEncoding ?? encoded
        }
        self.init(host: host, port: components.port, virtualHost: vhost,
                  user: components.user ?? "guest", password: components.password ?? "guest",
                  tls: secure ? TLSOptions() : nil)
    }

    /// A URL safe for logs: the password is replaced.
    public var redactedURL: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? virtualHost
        return "\(scheme)://\(user):***@\(host):\(port)/\(vhost)"
    }

    static func redact(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "<unparsable url>"
    }
}

extension AMQPConfiguration: CustomStringConvertible {
    public var description: String { redactedURL }
}
