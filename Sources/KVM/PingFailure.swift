import AgentHTTP
import CloudBus

/// Why one `/host/ping` attempt did not prove the host's agent alive, with the host and agent it concerns.
///
/// Every case counts as a failed attempt; when all attempts fail, the first one's ``errorCode`` is what the
/// `PingHostReply` carries.
public struct PingFailure: Error, Sendable, Equatable, CustomStringConvertible, ErrorCodeConvertible {
    public enum Cause: Sendable, Equatable {
        /// No usable answer: refused, reset, connect timeout, non-2xx, no callback in time, a traceback callback.
        case agentUnreachable(AgentHTTPError)
        /// The agent answered `success=false` (its `error` text, if any).
        case agentFailed(String?)
        /// The agent answered for another host: `reported` is its `hostUuid` (nil when it sent none). ZStack then
        /// disconnects the host and sends `ReconnectHostMsg`, and so does this worker (no further attempt).
        case hostUuidMismatch(reported: String?)
        /// The callback body is a JSON object but not a ping response (fields of the wrong type).
        case malformedResponse(String)
    }

    public var hostUuid: String
    public var endpoint: AgentEndpoint
    /// 1-based attempt number.
    public var attempt: Int
    public var cause: Cause

    public init(hostUuid: String, endpoint: AgentEndpoint, attempt: Int, cause: Cause) {
        self.hostUuid = hostUuid
        self.endpoint = endpoint
        self.attempt = attempt
        self.cause = cause
    }

    public var causeDescription: String {
        switch cause {
        case .agentUnreachable(let error):
            return "\(error)"
        case .agentFailed(let message):
            return "agent reported failure: \(message ?? "no error text")"
        case .hostUuidMismatch(let reported):
            return "host uuid mismatch: agent reports \(reported ?? "no hostUuid")"
        case .malformedResponse(let reason):
            return "malformed ping response: \(reason)"
        }
    }

    public var description: String {
        "unable to ping kvm host[uuid:\(hostUuid)] at \(endpoint) (attempt \(attempt)): \(causeDescription)"
    }

    /// SYS.1006 with ``description`` as details, as ZStack's `operr` builds the ping failure.
    public var errorCode: ErrorCode { SysError.operationError.error(description) }
}
