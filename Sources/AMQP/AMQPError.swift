/// Every rabbitmq-c failure as a Swift error an operator can act on: which operation, the
/// library status, and the broker's reply code and text when the broker closed something.
public enum AMQPError: Error, Sendable, Equatable {
    case invalidURL(url: String, reason: String)
    /// TCP/TLS connect or login failed.
    case connectFailed(host: String, port: Int, reason: String)
    /// The first connect failed on every endpoint of a cluster, each tried once in order: one
    /// ``connectFailed(host:port:reason:)`` per endpoint. With a single endpoint its own error is thrown instead.
    case allEndpointsFailed(attempts: [AMQPError])
    /// A library call failed with a rabbitmq-c status (negative code) and its text.
    case library(operation: String, status: Int32, message: String)
    /// The broker closed a channel (e.g. 404 NOT_FOUND, 406 PRECONDITION_FAILED).
    case channelClosed(operation: String, replyCode: UInt16, replyText: String)
    /// The broker closed the connection (e.g. 320 CONNECTION_FORCED, 403 ACCESS_REFUSED).
    case connectionClosed(operation: String, replyCode: UInt16, replyText: String)
    /// The connection was lost (or is reconnecting) before the operation completed; a publish in
    /// this state has no confirm and must be treated as not sent.
    case connectionLost(reason: String)
    /// The broker refused the message (basic.nack): it is not safely enqueued.
    case publishNacked(deliveryTag: UInt64)
    /// No confirm arrived within the caller's bound.
    case confirmTimeout
    /// The connection was closed by its owner.
    case closed
}

extension AMQPError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .invalidURL(let url, let reason): "invalid AMQP URL \(url): \(reason)"
        case .connectFailed(let host, let port, let reason): "cannot connect to \(host):\(port): \(reason)"
        case .allEndpointsFailed(let attempts):
            "no broker endpoint reachable: \(attempts.map(\.description).joined(separator: "; "))"
        case .library(let operation, let status, let message): "\(operation) failed: \(message) (status \(status))"
        case .channelClosed(let operation, let code, let text): "\(operation): broker closed the channel: \(code) \(text)"
        case .connectionClosed(let operation, let code, let text): "\(operation): broker closed the connection: \(code) \(text)"
        case .connectionLost(let reason): "connection lost: \(reason)"
        case .publishNacked(let tag): "broker nacked publish \(tag)"
        case .confirmTimeout: "no publisher confirm within the bound"
        case .closed: "connection closed"
        }
    }
}
