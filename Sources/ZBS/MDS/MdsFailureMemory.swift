import AgentHTTP
import Synchronization

/// Remembers, for a configurable window, which MDS just failed at transport level or timed out, so that following
/// calls try it **last** instead of paying its deadline again (the original pays up to one attempt deadline for
/// every call that happens to draw a dead, still-"Connected" MDS first).
///
/// Promises: an MDS is never skipped, only moved to the end of a call's order (a call with no other candidate still
/// tries it); the MDS status is never changed (that is the ping cycle's job); a success forgets the failure at
/// once. Among remembered MDS, the one that failed longest ago comes first (likeliest to have recovered).
/// Keyed by agent endpoint, shared by all storages and calls of a worker; thread-safe.
public final class MdsFailureMemory: Sendable {
    private struct State {
        var window: Duration
        var failedAt: [AgentEndpoint: ContinuousClock.Instant] = [:]
    }

    private let state: Mutex<State>
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - window: how long a failure keeps an MDS at the end; `.zero` disables the memory (the original's rule).
    ///   - now: the clock; tests inject one to cross the window without sleeping.
    public init(window: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.state = Mutex(State(window: window))
        self.now = now
    }

    /// The window; changing it applies to failures already remembered.
    public var window: Duration {
        get { state.withLock { $0.window } }
        set { state.withLock { $0.window = newValue } }
    }

    /// Notes that an attempt to `endpoint` failed at transport level or ran out of its deadline.
    public func recordFailure(_ endpoint: AgentEndpoint) {
        let instant = now()
        state.withLock { $0.failedAt[endpoint] = instant }
    }

    /// Notes that `endpoint` answered (any readable answer, `success=false` included): it is alive.
    public func recordSuccess(_ endpoint: AgentEndpoint) {
        state.withLock { _ = $0.failedAt.removeValue(forKey: endpoint) }
    }

    /// Whether `endpoint` failed within the window.
    public func isRemembered(_ endpoint: AgentEndpoint) -> Bool {
        let instant = now()
        return state.withLock { state in
            guard let failed = state.failedAt[endpoint] else { return false }
            return failed.duration(to: instant) < state.window
        }
    }

    /// `candidates` (already in the call's shuffled order) with the remembered ones moved to the end, the oldest
    /// failure first; the others keep their order. Expired entries are forgotten.
    public func order<Candidate>(_ candidates: [Candidate], endpoint: (Candidate) -> AgentEndpoint) -> [Candidate] {
        let instant = now()
        let failedAt: [AgentEndpoint: ContinuousClock.Instant] = state.withLock { state in
            guard !state.failedAt.isEmpty else { return [:] }
            let window = state.window
            state.failedAt = state.failedAt.filter { $0.value.duration(to: instant) < window }
            return state.failedAt
        }
        guard !failedAt.isEmpty else { return candidates }
        var fresh: [Candidate] = []
        var remembered: [(Candidate, ContinuousClock.Instant)] = []
        for candidate in candidates {
            if let failed = failedAt[endpoint(candidate)] {
                remembered.append((candidate, failed))
            } else {
                fresh.append(candidate)
            }
        }
        // A stable sort keeps the shuffled order between equal instants.
        let ordered = remembered.enumerated().sorted { lhs, rhs in
            lhs.element.1 != rhs.element.1 ? lhs.element.1 < rhs.element.1 : lhs.offset < rhs.offset
        }
        return fresh + ordered.map(\.element.0)
    }
}
