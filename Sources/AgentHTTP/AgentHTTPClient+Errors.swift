#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

extension AgentHTTPClient {
    /// The ``AgentHTTPError`` kind of what NIO threw for `request` (connecting, or on the connection).
    ///
    /// A connect-phase failure that arrives once the deadline has passed is ``AgentHTTPError/deadlineExceeded(endpoint:path:timeout:)``:
    /// the deadline is what ended the call (the connect's own timeout is cut to the time left).
    static func agentError(_ error: any Error, request: Request, deadline: NIODeadline) -> AgentHTTPError {
        let endpoint = request.endpoint
        let path = request.path
        let kind = classify(error, request: request)
        switch kind {
        case .connectionRefused, .connectTimeout, .connectFailed:
            if NIODeadline.now() >= deadline {
                return .deadlineExceeded(endpoint: endpoint, path: path, timeout: request.budget)
            }
        default:
            break
        }
        return kind
    }

    private static func classify(_ error: any Error, request: Request) -> AgentHTTPError {
        let endpoint = request.endpoint
        let path = request.path
        switch error {
        case let error as AgentHTTPError:
            return error
        case ChannelError.connectTimeout:
            return .connectTimeout(endpoint: endpoint, timeout: request.connectTimeout)
        case ChannelError.eof, ChannelError.ioOnClosedChannel, ChannelError.outputClosed, ChannelError.inputClosed:
            return .connectionReset(endpoint: endpoint, path: path)
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: return .connectionRefused(endpoint: endpoint)
            case ECONNRESET, EPIPE, ECONNABORTED: return .connectionReset(endpoint: endpoint, path: path)
            default: return .connectFailed(endpoint: endpoint, reason: "\(path): \(error)")
            }
        case let error as NIOConnectionError:
            let causes = error.connectionErrors.map(\.error)
            if !causes.isEmpty, causes.allSatisfy({ ($0 as? IOError)?.errnoCode == ECONNREFUSED }) {
                return .connectionRefused(endpoint: endpoint)
            }
            if causes.contains(where: { if case ChannelError.connectTimeout = $0 { true } else { false } }) {
                return .connectTimeout(endpoint: endpoint, timeout: request.connectTimeout)
            }
            let reasons = causes.map { "\($0)" } + [error.dnsAError, error.dnsAAAAError].compactMap { $0.map { "\($0)" } }
            return .connectFailed(endpoint: endpoint, reason: reasons.isEmpty ? "\(error)" : reasons.joined(separator: "; "))
        default:  // HTTPParserError and the like: the bytes are not a response we understand
            return .invalidResponse(endpoint: endpoint, path: path, reason: "\(error)")
        }
    }
}
