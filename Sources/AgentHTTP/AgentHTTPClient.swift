import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Posts JSON to remote agents over HTTP/1.1 on SwiftNIO, with a connect timeout and an overall deadline.
///
/// One value is cheap to copy and safe to share: all calls run on the one `EventLoopGroup` given at init (by default
/// `MultiThreadedEventLoopGroup.singleton`), so a call creates no thread, only a socket.
///
/// Promises:
/// - **One connection per request (v1).** Each call opens a TCP connection, sends `Connection: close` and closes
///   it when the response is complete. Agents are few and calls are seconds apart per host, so this costs one
///   loopback/LAN handshake per call. Connection reuse would go behind ``post(to:path:headers:body:connectTimeout:timeout:)``
///   (the exchange is already separate from how its channel is obtained, see `HTTPExchange.start`) without any
///   change to callers.
/// - **No hidden retries.** A failure is reported once, as an ``AgentHTTPError`` naming endpoint and path.
/// - **Deadline.** `timeout` bounds the whole exchange: connect, send, and the complete response. `connectTimeout`
///   bounds the TCP handshake alone; whichever runs out first wins.
/// - **Cancellation.** Cancelling the calling task closes the connection at once and throws `CancellationError`.
public struct AgentHTTPClient: Sendable {
    /// Limits that protect the worker from a misbehaving peer.
    public struct Configuration: Sendable {
        /// A response body larger than this fails with ``AgentHTTPError/invalidResponse(endpoint:path:reason:)``.
        /// Default: 64 MiB (a VM sync report for thousands of VMs is a few MiB).
        public var maxResponseBytes: Int

        public init(maxResponseBytes: Int = 64 << 20) {
            self.maxResponseBytes = maxResponseBytes
        }
    }

    /// The event loops every call of this client runs on.
    public let eventLoopGroup: any EventLoopGroup
    public let configuration: Configuration

    public init(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        configuration: Configuration = .init()
    ) {
        self.eventLoopGroup = eventLoopGroup
        self.configuration = configuration
    }

    /// POSTs `body` (sent as `application/json`) to `http://<endpoint><path>` and returns the status and body,
    /// whatever the status.
    ///
    /// - Parameters:
    ///   - headers: extra request headers (e.g. `taskuuid`, `callbackurl`, `X-Resource-UUID`).
    ///   - connectTimeout: bound on establishing the TCP connection.
    ///   - timeout: bound on the whole exchange, reported in ``AgentHTTPError/deadlineExceeded(endpoint:path:timeout:)``.
    /// - Throws: ``AgentHTTPError`` (transport cases only) or `CancellationError`.
    public func post(
        to endpoint: AgentEndpoint,
        path: String,
        headers: [String: String] = [:],
        body: Data,
        connectTimeout: Duration,
        timeout: Duration
    ) async throws -> AgentHTTPResponse {
        try await perform(
            HTTPExchange.Request(
                method: .POST, endpoint: endpoint, path: path, headers: headers, body: body,
                connectTimeout: connectTimeout, budget: timeout),
            deadline: .now() + TimeAmount(timeout))
    }

    /// GETs `http://<endpoint><path>` (health probes such as `/healthz`), with the same promises as `post`.
    public func get(
        from endpoint: AgentEndpoint,
        path: String,
        headers: [String: String] = [:],
        connectTimeout: Duration,
        timeout: Duration
    ) async throws -> AgentHTTPResponse {
        try await perform(
            HTTPExchange.Request(
                method: .GET, endpoint: endpoint, path: path, headers: headers, body: Data(),
                connectTimeout: connectTimeout, budget: timeout),
            deadline: .now() + TimeAmount(timeout))
    }

    /// Runs one exchange with an absolute deadline; `request.budget` is what errors report.
    func perform(_ request: HTTPExchange.Request, deadline: NIODeadline) async throws -> AgentHTTPResponse {
        try Task.checkCancellation()
        let (future, exchange) = start(request, deadline: deadline)
        return try await withTaskCancellationHandler {
            try await future.get()
        } onCancel: {
            exchange.eventLoop.execute {
                exchange.value.finish(.failure(CancellationError()))
            }
        }
    }

    /// Future-based form for code that already lives on an event loop (the fake agent's callbacks).
    /// No cancellation beyond the deadline.
    package func postFuture(
        to endpoint: AgentEndpoint,
        path: String,
        headers: [String: String],
        body: Data,
        connectTimeout: Duration,
        timeout: Duration
    ) -> EventLoopFuture<AgentHTTPResponse> {
        let request = HTTPExchange.Request(
            method: .POST, endpoint: endpoint, path: path, headers: headers, body: body,
            connectTimeout: connectTimeout, budget: timeout)
        return start(request, deadline: .now() + TimeAmount(timeout)).0
    }

    private func start(
        _ request: HTTPExchange.Request, deadline: NIODeadline
    ) -> (EventLoopFuture<AgentHTTPResponse>, NIOLoopBoundBox<HTTPExchange>) {
        let eventLoop = eventLoopGroup.next()
        let promise = eventLoop.makePromise(of: AgentHTTPResponse.self)
        let exchange = NIOLoopBoundBox.makeBoxSendingValue(
            HTTPExchange(
                request: request, deadline: deadline, promise: promise,
                maxResponseBytes: configuration.maxResponseBytes),
            eventLoop: eventLoop)
        eventLoop.execute { exchange.value.start() }
        return (promise.futureResult, exchange)
    }
}
