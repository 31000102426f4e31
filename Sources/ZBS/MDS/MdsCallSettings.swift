/// Settings shared by every MDS call of a worker (the configuration file's `zbs` section).
public struct MdsCallSettings: Sendable, Hashable {
    /// Bound on the TCP handshake of one attempt (the pull request's 30 s). Default: 30 s.
    public var connectTimeout: Duration
    /// Whole budget of one attempt unless the call gives its own. Default: 30 s.
    public var attemptTimeout: Duration
    /// Attempts in flight per MDS across all calls; further attempts wait for a slot within their own deadline.
    /// Default: 8.
    public var concurrencyPerMds: Int
    /// Prefix of every agent path (`Zbs.primaryStorageAgent.urlRootPath` plus the plugin's path). Default:
    /// `/zbs/primarystorage`.
    public var urlRootPath: String

    public init(
        connectTimeout: Duration = .seconds(30),
        attemptTimeout: Duration = .seconds(30),
        concurrencyPerMds: Int = 8,
        urlRootPath: String = "/zbs/primarystorage"
    ) {
        self.connectTimeout = connectTimeout
        self.attemptTimeout = attemptTimeout
        self.concurrencyPerMds = max(1, concurrencyPerMds)
        self.urlRootPath = urlRootPath
    }
}
