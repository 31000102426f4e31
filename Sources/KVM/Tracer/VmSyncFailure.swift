import AgentHTTP

/// Why a host's `/vm/vmsync` gave no report: ZStack's "unable to do vm sync on host[uuid, ip] because …". The
/// round then produces no verdict at all (a missing report must never read as "every VM is gone").
public struct VmSyncFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Cause: Sendable, Equatable {
        /// No answer could be had (refused, timeouts, reset, non-2xx, the agent's handler raised).
        case agentUnreachable(AgentHTTPError)
        /// The agent answered `success=false` with this error.
        case agentFailed(String?)
        /// The answer is not the expected JSON.
        case malformedResponse(String)
        /// The request's deadline left no time for the call; it was not made.
        case noTimeLeft
    }

    public var hostUuid: String
    public var endpoint: AgentEndpoint
    public var cause: Cause

    public init(hostUuid: String, endpoint: AgentEndpoint, cause: Cause) {
        self.hostUuid = hostUuid
        self.endpoint = endpoint
        self.cause = cause
    }

    public var description: String {
        let because: String
        switch cause {
        case .agentUnreachable(let error): because = "\(error)"
        case .agentFailed(let error): because = "the agent failed: \(error ?? "no error given")"
        case .malformedResponse(let reason): because = "malformed answer: \(reason)"
        case .noTimeLeft: because = "no time was left before the request's deadline"
        }
        return "unable to do vm sync on host[uuid:\(hostUuid), ip:\(endpoint.host)] because \(because)"
    }
}
