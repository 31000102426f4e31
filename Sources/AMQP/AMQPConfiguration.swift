import Foundation

/// Where and how to reach the broker. Value type with documented defaults, so a daemon can
/// build it from file < environment < flags and log it without the password.
public struct AMQPConfiguration: Sendable, Equatable {
    /// One broker address; a cluster has several.
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host:port` (`[host]:port` for an IPv6 literal): how logs and statistics name the endpoint.
        public var description: String {
            host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    /// The brokers to connect to, in order: the first connect starts at the first, and every lost connection or
    /// failed connect moves on to the next, round-robin (see ``AMQPConnection``). All share the credentials, virtual
    /// host and TLS settings below. Must not be empty: `start()` refuses an empty list.
    public var endpoints: [Endpoint]
    /// The first endpoint's host, for callers that know one broker; setting it changes `endpoints[0]`.
    public var host: String {
        get { endpoints.first?.host ?? Self.defaultHost }
        set {
            if endpoints.isEmpty { endpoints = [Endpoint(host: newValue, port: port)] } else { endpoints[0].host = newValue }
        }
    }
    /// The first endpoint's port; setting it changes `endpoints[0]`.
    public var port: Int {
        get { endpoints.first?.port ?? Self.defaultPort(tls: tls) }
        set {
            if endpoints.isEmpty { endpoints = [Endpoint(host: host, port: newValue)] } else { endpoints[0].port = newValue }
        }
    }
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
        self.endpoints = [Endpoint(host: host, port: port ?? Self.defaultPort(tls: tls))]
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
        let host = components.host.map { $0.isEmpty ? Self.defaultHost : $0 } ?? Self.defaultHost
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

    /// Parses a cluster's URLs, one per node, each by the rules of ``init(url:)``. They must agree on everything but
    /// host and port (scheme, user, password, virtual host): one connection moves between them with one login.
    /// - Throws: ``AMQPError/invalidURL(url:reason:)`` for an empty list, a malformed URL, a URL that differs from
    ///   the first in anything but its address (the reason names what), or an address listed twice.
    ///   Passwords are redacted in every message.
    public init(urls: [String]) throws(AMQPError) {
        guard let firstURL = urls.first else { throw .invalidURL(url: "[]", reason: "no broker URLs given") }
        var configuration = try AMQPConfiguration(url: firstURL)
        for url in urls.dropFirst() {
            let other = try AMQPConfiguration(url: url)
            let differences = [
                (other.tls == nil) != (configuration.tls == nil) ? "scheme" : nil,
                other.user != configuration.user ? "user" : nil,
                other.password != configuration.password ? "password" : nil,
                other.virtualHost != configuration.virtualHost ? "virtual host" : nil,
            ].compactMap { $0 }
            if !differences.isEmpty {
                let verb = differences.count == 1 ? "differs" : "differ"
                throw .invalidURL(url: Self.redact(url), reason: "\(differences.joined(separator: ", ")) \(verb) from "
                                  + "\(configuration.redactedURL): the URLs of one cluster may differ only in host and port")
            }
            let endpoint = other.endpoints[0]
            if configuration.endpoints.contains(where: { $0.host.lowercased() == endpoint.host.lowercased()
                && $0.port == endpoint.port }) {
                throw .invalidURL(url: Self.redact(url), reason: "\(endpoint) is listed twice")
            }
            configuration.endpoints.append(endpoint)
        }
        self = configuration
    }

    /// A URL safe for logs, for the first endpoint: the password is replaced.
    public var redactedURL: String { redactedURL(for: Endpoint(host: host, port: port)) }

    /// Every endpoint's URL, comma-separated, passwords replaced: the whole list for logs.
    public var redactedURLs: String { endpoints.map(redactedURL(for:)).joined(separator: ",") }

    /// The URL of one endpoint with these credentials and virtual host, password replaced.
    func redactedURL(for endpoint: Endpoint) -> String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? virtualHost
        return "\(scheme)://\(user):***@\(endpoint)/\(vhost)"
    }

    static let defaultHost = "127.0.0.1"

    static func defaultPort(tls: TLSOptions?) -> Int { tls == nil ? 5672 : 5671 }

    /// The URL with its password replaced; also when it does not parse (the text between `user:` and `@` goes).
    static func redact(_ url: String) -> String {
        if var components = URLComponents(string: url) {
            guard components.password != nil else { return url }
            components.password = "***"
            if let redacted = components.string { return redacted }
        }
        guard let start = url.range(of: "://")?.upperBound,
              let at = url[start...].lastIndex(of: "@"),
              let colon = url[start..<at].firstIndex(of: ":")
        else { return url }
        return String(url[...colon]) + "***" + url[at...]
    }
}

extension AMQPConfiguration: CustomStringConvertible {
    public var description: String { redactedURL }
}
