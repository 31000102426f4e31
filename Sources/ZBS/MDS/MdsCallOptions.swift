/// How one MDS call behaves: which agent path, sync or async protocol, whether a deadline lets it move on to the
/// next MDS, whether it is pinned to one MDS, and how long each attempt may take.
///
/// Transport failures (refused, reset, connect timeout, non-2xx, unparsable answer) always move on to the next
/// MDS whatever these options say; an agent answering `success=false` never does (see ``MdsCaller``).
public struct MdsCallOptions: Sendable, Hashable {
    /// Agent path below the URL root (e.g. `/volume/clients`, `/volume/create`).
    public var path: String
    /// The agent answers in the response body (`/echo`, `/volume/clients`) instead of calling back.
    public var sync: Bool
    /// A passed attempt deadline moves on to the next MDS. Only for calls that are safe to run twice (reads such
    /// as `/volume/clients`): a timed-out write may have run on the MDS that timed out.
    public var tryNext: Bool
    /// Pins the call to this MDS (`/volume/cleannbd`: the NBD export lives where it was created); no other MDS is
    /// ever contacted, whatever happens.
    public var targetAddr: String?
    /// Whole budget of one attempt, request to answer (or callback). Nil: ``MdsCallSettings/attemptTimeout``.
    public var attemptTimeout: Duration?
    /// When the caller stops waiting (the bus message's deadline): no attempt starts after it and each attempt is
    /// cut to it. Nil: only the attempt budgets bound the call.
    public var deadline: ContinuousClock.Instant?

    public init(
        path: String,
        sync: Bool = false,
        tryNext: Bool = false,
        targetAddr: String? = nil,
        attemptTimeout: Duration? = nil,
        deadline: ContinuousClock.Instant? = nil
    ) {
        self.path = path
        self.sync = sync
        self.tryNext = tryNext
        self.targetAddr = targetAddr
        self.attemptTimeout = attemptTimeout
        self.deadline = deadline
    }
}
