/// One worker of the fleet as the shared store knows it.
public struct MemberRecord: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case alive
        case left
    }

    public var nodeUuid: String
    /// The services whose queues it consumes (`host`, `vmInstance`, …).
    public var services: [String]
    public var state: State
    /// How long ago its last heartbeat was written, by the **store's** clock (never a worker's: two workers'
    /// clocks may disagree by more than the timeout).
    public var heartbeatAge: Duration
    /// Who declared it left: itself (a graceful stop) or the one survivor that won the declaration.
    public var leftAnnouncedBy: String?
    /// The survivor draining its queues into their owners' (while it lives; a claim of a dead claimant lapses).
    public var drainedBy: String?

    public init(nodeUuid: String, services: [String], state: State, heartbeatAge: Duration,
                leftAnnouncedBy: String? = nil, drainedBy: String? = nil) {
        self.nodeUuid = nodeUuid
        self.services = services
        self.state = state
        self.heartbeatAge = heartbeatAge
        self.leftAnnouncedBy = leftAnnouncedBy
        self.drainedBy = drainedBy
    }

    /// Alive and heard from within `timeout`: a member of the ring.
    public func isLive(timeout: Duration) -> Bool { state == .alive && heartbeatAge < timeout }
}

/// The fleet's membership, decided by the store: heartbeats written with the store's clock, and a conditional update
/// that lets exactly one survivor declare a silent member left (so exactly one publishes its NodeLeft).
///
/// On SQLite (one worker, one file) the same calls work with the local clock: a worker alone is its own fleet.
public protocol MemberStore: Sendable {
    /// Writes `node`'s heartbeat (alive, its services; a member that had left rejoins) and returns every member,
    /// ordered by node, with heartbeat ages read in the same statement's clock.
    func heartbeat(node: String, services: [String]) async throws -> [MemberRecord]

    /// Every member, as ``heartbeat(node:services:)`` returns them, without writing.
    func members() async throws -> [MemberRecord]

    /// Marks `node` left, announced by `survivor`, **if** it is still alive and silent for at least `timeout` by the
    /// store's clock. True for exactly one caller however many race; false when it was already declared, came back,
    /// or is not silent long enough.
    func declareLeft(node: String, by survivor: String, silentFor timeout: Duration) async throws -> Bool

    /// A graceful stop: `node` marks itself left (announced by itself). Idempotent.
    func leave(node: String) async throws

    /// Claims the draining of departed `node`'s queues for `survivor`: true when the member has left and nobody
    /// else holds the claim — or its holder is not among `live` (it died while draining), or it is `survivor`
    /// itself (it restarted). Exactly one of several racing survivors gets true. A rejoin clears the claim.
    func claimDrain(node: String, by survivor: String, live: [String]) async throws -> Bool
}
