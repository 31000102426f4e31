/// ZStack's system error codes (`SysErrors.java`) with the descriptions from `conf/errorCodes/sys.xml`, so
/// errors built here read exactly like those a Java management node builds.
public enum SysError: String, Sendable, CaseIterable {
    case internalError = "SYS.1000"
    case timeout = "SYS.1001"
    case operationError = "SYS.1006"
    case invalidArgument = "SYS.1007"
    case unknownMessage = "SYS.1008"
    case noRoute = "SYS.1009"
    case notReady = "SYS.1010"
    case undeliverable = "SYS.1011"
    case managementNodeUnavailable = "SYS.1012"

    public var code: String { rawValue }

    /// The fixed description ZStack pairs with the code.
    public var description: String {
        switch self {
        case .internalError: return "An internal error happened in system"
        case .timeout: return "A message or a operation timeout"
        case .operationError: return "An operation failed"
        case .invalidArgument: return "One or more API argument is invalid"
        case .unknownMessage: return "Unknown message, no service can deal with the message"
        case .noRoute: return "No route for message"
        case .notReady: return "Management server is not ready to serve"
        case .undeliverable: return "The message can not be delivered by Rabbitmq"
        case .managementNodeUnavailable: return "The management node is unavailable"
        }
    }

    /// An `ErrorCode` of this kind. ZStack truncates `details` to 4096 characters; so does this.
    public func error(_ details: String, cause: ErrorCode? = nil) -> ErrorCode {
        ErrorCode(code: code, description: description, details: String(details.prefix(4096)), cause: cause)
    }

    /// SYS.1001 as the sender's timer writes it: `Message[name: <class>, id: <id>] timeout after <N> seconds`,
    /// where N is the message's `timeout` in whole seconds (truncated, as `TimeUnit.MILLISECONDS.toSeconds`).
    public static func timeout(className: String, id: String, timeoutMillis: Int64) -> ErrorCode {
        SysError.timeout.error("Message[name: \(className), id: \(id)] timeout after \(timeoutMillis / 1000) seconds")
    }

    /// SYS.1012 as ZStack's message tracker writes it when the target node left.
    public static func managementNodeUnavailable(nodeUuid: String) -> ErrorCode {
        SysError.managementNodeUnavailable.error("management node[uuid:\(nodeUuid)] is unavailable")
    }
}
