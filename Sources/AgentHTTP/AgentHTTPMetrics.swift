import Metrics
import Primitives
import Synchronization

/// The metric families of agent calls (``AgentCaller``): every KVM and ZBS call to a host or MDS agent. The code
/// creates its handles from these entries, so the catalogue and what is exported cannot drift.
///
/// `path` is the agent command path the calling code passes (`/host/ping`, `/vm/vmsync`,
/// `/zbs/primarystorage/volume/clients`…): code constants plus a configured prefix, never a value from a message.
/// `outcome` comes from ``AgentCallOutcome``.
public enum AgentHTTPMetrics {
    /// `path`: the agent path; `outcome`: ``AgentCallOutcome``.
    public static let agentCalls = MetricDescription(
        "cloudbus_worker_agent_calls_total", .counter, labels: ["path", "outcome"],
        help: "Agent calls by command path and outcome: which agent commands fail, and how (refused, timeout…).")
    /// `path`: the agent path.
    public static let agentCallDuration = MetricDescription(
        "cloudbus_worker_agent_call_duration_seconds", .histogram, labels: ["path"],
        help: "How long agent calls take per command path, whatever their outcome (async: until the callback).")

    public static let catalog: [MetricDescription] = [agentCalls, agentCallDuration]

    /// `outcome` of ``agentCalls``: one per way an ``AgentCaller`` call ends (``AgentHTTPError``'s cases, success,
    /// cancellation).
    public enum AgentCallOutcome: String, Sendable, CaseIterable {
        /// The agent answered (2xx, or a readable callback); `success=false` in the body still counts as ok here.
        case ok
        /// ``AgentHTTPError/connectionRefused(endpoint:)``.
        case refused
        /// ``AgentHTTPError/connectTimeout(endpoint:timeout:)``.
        case connectTimeout = "connect_timeout"
        /// ``AgentHTTPError/connectFailed(endpoint:reason:)``.
        case connectFailed = "connect_failed"
        /// ``AgentHTTPError/deadlineExceeded(endpoint:path:timeout:)``: connected, no complete response in time.
        case timeout
        /// ``AgentHTTPError/noCallback(endpoint:path:taskUUID:timeout:)``: accepted, never called back in time.
        case callbackTimeout = "callback_timeout"
        /// ``AgentHTTPError/connectionReset(endpoint:path:)``.
        case reset
        /// ``AgentHTTPError/httpStatus(endpoint:path:code:bodySnippet:)``: an answer outside 2xx.
        case httpError = "http_error"
        /// ``AgentHTTPError/invalidResponse(endpoint:path:reason:)``: not usable HTTP.
        case badResponse = "bad_response"
        /// ``AgentHTTPError/agentFailure(endpoint:path:message:)``: the agent's handler raised, or a callback
        /// body that is not a JSON object.
        case agentFailure = "agent_failure"
        /// ``AgentHTTPError/callbackServerUnavailable(endpoint:path:)``: this worker's callback server is down.
        case callbackUnavailable = "callback_unavailable"
        /// The calling task was cancelled (its message's deadline passed, or the worker stops).
        case cancelled
        /// Any other error.
        case error

        init(_ error: any Error) {
            switch error {
            case let error as AgentHTTPError:
                switch error {
                case .connectionRefused: self = .refused
                case .connectTimeout: self = .connectTimeout
                case .connectFailed: self = .connectFailed
                case .deadlineExceeded: self = .timeout
                case .noCallback: self = .callbackTimeout
                case .connectionReset: self = .reset
                case .httpStatus: self = .httpError
                case .invalidResponse: self = .badResponse
                case .agentFailure: self = .agentFailure
                case .callbackServerUnavailable: self = .callbackUnavailable
                }
            case is CancellationError: self = .cancelled
            default: self = .error
            }
        }
    }
}

/// The handles of one ``AgentCaller`` (and its copies). Paths are code constants passed as strings, so the
/// handles of a path are made the first time it is called — every outcome and the timer at once — and cached:
/// later calls cost a dictionary probe under a lock, no label rendering.
final class AgentCallMetrics: Sendable {
    struct PathHandles: Sendable {
        let outcomes: [AgentHTTPMetrics.AgentCallOutcome: Counter]
        let duration: Metrics.Timer

        func record(_ outcome: AgentHTTPMetrics.AgentCallOutcome, since start: ContinuousClock.Instant) {
            duration.record(duration: start.duration(to: .now))
            outcomes[outcome]?.increment()
        }
    }

    private let factory: any MetricsFactory
    private let byPath: Mutex<[String: PathHandles]> = Mutex([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// The handles of `path`, made on its first call.
    func handles(_ path: String) -> PathHandles {
        byPath.withLock { cache in
            if let handles = cache[path] { return handles }
            let handles = PathHandles(
                outcomes: Dictionary(uniqueKeysWithValues: AgentHTTPMetrics.AgentCallOutcome.allCases.map {
                    ($0, AgentHTTPMetrics.agentCalls.counter(path, $0.rawValue, factory: factory))
                }),
                duration: AgentHTTPMetrics.agentCallDuration.timer(path, factory: factory))
            cache[path] = handles
            return handles
        }
    }
}

extension MetricDescription {
    /// The counter of this family whose labels take `values`, in the order of ``labels``.
    fileprivate func counter(_ values: String..., factory: any MetricsFactory) -> Counter {
        Counter(label: name, dimensions: dimensions(values), factory: factory)
    }

    /// The timer of this family (exported as a histogram) whose labels take `values`, in the order of ``labels``.
    fileprivate func timer(_ values: String..., factory: any MetricsFactory) -> Metrics.Timer {
        Metrics.Timer(label: name, dimensions: dimensions(values), factory: factory)
    }

    private func dimensions(_ values: [String]) -> [(String, String)] {
        precondition(values.count == labels.count, "\(name) takes labels \(labels)")
        return Array(zip(labels, values))
    }
}
