/// Why a call to a remote agent failed, with what an operator needs to find the fault: which agent (host:port),
/// which path, which budget, which reply code.
///
/// Every case except ``agentFailure(endpoint:path:message:)`` is a **transport** failure: the agent's handler never
/// produced an answer we could read (``isTransportFailure``). An agent that answered `success=false` is not an error
/// at this level; callers read that from the body (see ``AgentResponseStatus``).
public enum AgentHTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing listens on the agent's port (TCP RST on connect). Fails fast; no retry is made.
    case connectionRefused(endpoint: AgentEndpoint)
    /// The TCP connection was not established within the connect timeout (agent host down, SYN dropped).
    case connectTimeout(endpoint: AgentEndpoint, timeout: Duration)
    /// Connecting failed for another reason (name resolution, unreachable network, ...).
    case connectFailed(endpoint: AgentEndpoint, reason: String)
    /// The HTTP exchange did not finish within the caller's budget (connected, but no complete response).
    case deadlineExceeded(endpoint: AgentEndpoint, path: String, timeout: Duration)
    /// An async call was accepted by the agent (2xx) but its result was not called back within the budget. Either
    /// the agent's handler is still running or stuck, or the agent cannot reach the callback URL.
    case noCallback(endpoint: AgentEndpoint, path: String, taskUUID: String, timeout: Duration)
    /// The peer closed or reset the connection before a complete response arrived.
    case connectionReset(endpoint: AgentEndpoint, path: String)
    /// The agent answered with a status outside 2xx. `bodySnippet` is the start of its body (agents put the reason
    /// there, e.g. "taskUuid missing in request header").
    case httpStatus(endpoint: AgentEndpoint, path: String, code: Int, bodySnippet: String)
    /// The bytes that came back are not a usable HTTP response (parse error, body too large).
    case invalidResponse(endpoint: AgentEndpoint, path: String, reason: String)
    /// The agent answered, but its handler failed: an async callback carried the `error` header (the agent raised,
    /// the body is its traceback) or its body is not a JSON object.
    case agentFailure(endpoint: AgentEndpoint, path: String, message: String)
    /// The callback server is not running (not started or shut down), so async results cannot be received.
    case callbackServerUnavailable(endpoint: AgentEndpoint, path: String)

    /// The agent's handler never produced a readable answer (refused, timeouts, reset, non-2xx, unparsable).
    /// `false` only for ``agentFailure(endpoint:path:message:)``.
    public var isTransportFailure: Bool {
        if case .agentFailure = self { return false }
        return true
    }

    /// The call ran out of its budget (``deadlineExceeded(endpoint:path:timeout:)`` or
    /// ``noCallback(endpoint:path:taskUUID:timeout:)``).
    public var isDeadline: Bool {
        switch self {
        case .deadlineExceeded, .noCallback: true
        default: false
        }
    }

    /// The agent the failed call was addressed to.
    public var endpoint: AgentEndpoint {
        switch self {
        case .connectionRefused(let endpoint), .connectTimeout(let endpoint, _), .connectFailed(let endpoint, _),
            .deadlineExceeded(let endpoint, _, _), .noCallback(let endpoint, _, _, _),
            .connectionReset(let endpoint, _), .httpStatus(let endpoint, _, _, _),
            .invalidResponse(let endpoint, _, _), .agentFailure(let endpoint, _, _),
            .callbackServerUnavailable(let endpoint, _):
            endpoint
        }
    }

    public var description: String {
        switch self {
        case .connectionRefused(let endpoint):
            "agent \(endpoint): connection refused"
        case .connectTimeout(let endpoint, let timeout):
            "agent \(endpoint): not connected within \(timeout)"
        case .connectFailed(let endpoint, let reason):
            "agent \(endpoint): cannot connect: \(reason)"
        case .deadlineExceeded(let endpoint, let path, let timeout):
            "agent \(endpoint) \(path): no response within \(timeout)"
        case .noCallback(let endpoint, let path, let taskUUID, let timeout):
            "agent \(endpoint) \(path): accepted task \(taskUUID) but did not call back within \(timeout)"
                + " (is the agent stuck, or can it not reach the callback URL?)"
        case .connectionReset(let endpoint, let path):
            "agent \(endpoint) \(path): connection closed before a complete response"
        case .httpStatus(let endpoint, let path, let code, let bodySnippet):
            "agent \(endpoint) \(path): HTTP \(code)" + (bodySnippet.isEmpty ? "" : ": \(bodySnippet)")
        case .invalidResponse(let endpoint, let path, let reason):
            "agent \(endpoint) \(path): invalid HTTP response: \(reason)"
        case .agentFailure(let endpoint, let path, let message):
            "agent \(endpoint) \(path): agent failed: \(message)"
        case .callbackServerUnavailable(let endpoint, let path):
            "agent \(endpoint) \(path): callback server is not running, async results cannot be received"
        }
    }
}

extension AgentHTTPError {
    /// At most `limit` characters of a body, for error messages and logs (agents' error bodies can be tracebacks).
    static func snippet(of body: some Collection<UInt8>, limit: Int = 512) -> String {
        let text = String(decoding: body.prefix(limit), as: UTF8.self)
        return body.count > limit ? text + "…" : text
    }
}
