import AgentHTTP
import CloudBus

/// Why one attempt of an MDS call did not produce an answer, naming the MDS and path.
public struct MdsAttemptFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Cause: Sendable, Equatable {
        /// Refused, reset, connect timeout, non-2xx, invalid HTTP: the agent never handled the request.
        case transport(AgentHTTPError)
        /// The attempt's deadline passed (no response, or accepted but no callback). The request may have run.
        case deadline(AgentHTTPError)
        /// The answer (body or callback) is not a JSON object, or the callback says the agent's handler raised.
        case unparsable(String)
        /// No slot of this MDS freed up before the attempt's deadline; nothing was sent.
        case noSlot(inUse: Int)
    }

    /// The MDS address (its identity in the storage's MDS list).
    public var addr: String
    public var endpoint: AgentEndpoint
    /// The full agent path, e.g. `/zbs/primarystorage/volume/clients`.
    public var path: String
    public var cause: Cause

    public init(addr: String, endpoint: AgentEndpoint, path: String, cause: Cause) {
        self.addr = addr
        self.endpoint = endpoint
        self.path = path
        self.cause = cause
    }

    /// SYS.1001 for a passed deadline, SYS.1006 otherwise; the details name the MDS.
    public var errorCode: ErrorCode {
        switch cause {
        case .deadline: SysError.timeout.error(description)
        default: SysError.operationError.error(description)
        }
    }

    public var description: String {
        switch cause {
        case .transport(let error), .deadline(let error):
            "MDS[\(addr)] \(path): \(error)"
        case .unparsable(let snippet):
            "MDS[\(addr)] \(path): no readable answer: \(snippet)"
        case .noSlot(let inUse):
            "MDS[\(addr)] \(path): no free connection slot before the attempt deadline (\(inUse) in flight)"
        }
    }
}
