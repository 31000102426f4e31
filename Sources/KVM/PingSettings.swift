/// How a KVM host is pinged: ZStack's host-ping global configs, with ZStack's defaults.
///
/// The message deadline always wins: each attempt and each pause is cut to what is left of it (see
/// ``PingHostHandler``), so these are upper bounds, not promises.
public struct PingSettings: Sendable, Hashable {
    /// Budget of one `/host/ping` round trip (POST accepted and result called back). ZStack: `host.ping.timeout`.
    /// Default: 10 seconds.
    public var timeout: Duration
    /// How many attempts are made before the host is declared disconnected (at least 1). ZStack:
    /// `host.ping.maxFailure`. Default: 3.
    public var maxFailure: Int
    /// Pause between a failed attempt and the next one. ZStack: `ping.sleepPeriodAfterFailure`. Default: 1 second.
    public var sleepAfterFailure: Duration
    /// Budget for establishing the TCP connection to the agent, within ``timeout``. ZStack has no separate knob
    /// (its HTTP client's connect timeout applies). Default: 5 seconds.
    public var connectTimeout: Duration

    public init(
        timeout: Duration = .seconds(10),
        maxFailure: Int = 3,
        sleepAfterFailure: Duration = .seconds(1),
        connectTimeout: Duration = .seconds(5)
    ) {
        self.timeout = timeout
        self.maxFailure = max(1, maxFailure)
        self.sleepAfterFailure = max(.zero, sleepAfterFailure)
        self.connectTimeout = connectTimeout
    }
}
