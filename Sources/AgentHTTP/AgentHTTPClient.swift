import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Posts JSON to remote agents over HTTP/1.1 on kept-alive connections of its own (NIO's HTTP/1 codec, see
/// ``AgentConnectionPool`` and docs/design-agent-client.md), with a connect timeout and an overall deadline per call.
///
/// One value is cheap to copy and safe to share; it owns nothing that must be closed (see ``AgentConnectionPools``).
///
/// Promises:
/// - **Kept-alive connections per agent.** Calls reuse idle connections to the same `host:port` (of the calling
///   event loop, see ``AgentConnectionPool``); a connection idle for ``Configuration/idleTimeout`` is closed by us,
///   before the agent's own keep-alive timeout (CherryPy's is 10 s) can close it under a call we are sending.
/// - **No hidden retries.** A failure is reported once, as an ``AgentHTTPError`` naming endpoint and path: a failed
///   connect fails its call at once, a connection closed under a POST is
///   ``AgentHTTPError/connectionReset(endpoint:path:)``, never re-sent. The one exception is a GET (health probe,
///   idempotent) whose connection closed before a complete answer: it is sent once more.
/// - **Nothing unsafe on the wire.** A path that is not absolute or holds spaces or control characters, and a
///   header with a line break, fail before anything is sent (``AgentHTTPError/connectFailed(endpoint:reason:)``
///   naming path and header).
/// - **No redirects.** A 3xx is returned as it came, like any other status.
/// - **Deadline.** `timeout` bounds the whole exchange: waiting for a connection, connecting, sending, and the
///   complete response body. `connectTimeout` bounds the TCP handshake alone when it is shorter than `timeout`;
///   whichever runs out first wins. A connect timeout at least as long as `timeout` cannot run out first, so such
///   calls are bounded by the deadline alone and report ``AgentHTTPError/deadlineExceeded(endpoint:path:timeout:)``.
/// - **Bounded response.** A body over ``Configuration/maxResponseBytes`` fails with
///   ``AgentHTTPError/invalidResponse(endpoint:path:reason:)`` ("body larger than N bytes") and its connection is
///   closed.
/// - **Cancellation.** Cancelling the calling task cancels the request (its connection is closed, not reused) and
///   throws `CancellationError`.
public struct AgentHTTPClient: Sendable {
    /// Limits that protect the worker from a misbehaving peer, and the pool's shape.
    public struct Configuration: Sendable {
        /// A response body larger than this fails with ``AgentHTTPError/invalidResponse(endpoint:path:reason:)``.
        /// Default: 64 MiB (a VM sync report for thousands of VMs is a few MiB).
        public var maxResponseBytes: Int
        /// An idle kept-alive connection is closed after this long. Default 5 s: shorter than the agents' own
        /// keep-alive timeouts, so it is never the agent that closes a connection we are about to reuse; long
        /// enough for the calls that come together (a ping and the VM sync after it, a burst of MDS calls).
        public var idleTimeout: Duration
        /// Connections kept per agent at most. Default 256: more than the calls one worker runs against one agent
        /// at once, so calls do not queue behind each other (a call that must wait for a free connection waits at
        /// most its connect timeout, then fails with ``AgentHTTPError/connectTimeout(endpoint:timeout:)``).
        public var maxConnectionsPerAgent: Int

        public init(maxResponseBytes: Int = 64 << 20, idleTimeout: Duration = .seconds(5), maxConnectionsPerAgent: Int = 256) {
            self.maxResponseBytes = maxResponseBytes
            self.idleTimeout = idleTimeout
            self.maxConnectionsPerAgent = maxConnectionsPerAgent
        }
    }

    /// One call as the client runs it; `budget` is what ``AgentHTTPError/deadlineExceeded(endpoint:path:timeout:)``
    /// reports, the absolute deadline is passed beside it.
    struct Request: Sendable {
        var method: HTTPMethod
        var endpoint: AgentEndpoint
        var path: String
        var headers: [String: String]
        var body: Data
        var connectTimeout: Duration
        var budget: Duration
    }

    /// The event loops every call of this client runs on.
    public let eventLoopGroup: any EventLoopGroup
    public let configuration: Configuration
    /// The connections of every client with this group and pool shape.
    private let pool: AgentConnectionPool

    public init(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        configuration: Configuration = .init()
    ) {
        self.eventLoopGroup = eventLoopGroup
        self.configuration = configuration
        self.pool = AgentConnectionPools.shared.pool(eventLoopGroup: eventLoopGroup, configuration: configuration)
    }

    /// POSTs `body` (sent as `application/json`) to `http://<endpoint><path>` and returns the status and body,
    /// whatever the status.
    ///
    /// - Parameters:
    ///   - headers: extra request headers (e.g. `taskuuid`, `callbackurl`, `X-Resource-UUID`).
    ///   - connectTimeout: bound on establishing the TCP connection (when a new one is needed).
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
            Request(
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
            Request(
                method: .GET, endpoint: endpoint, path: path, headers: headers, body: Data(),
                connectTimeout: connectTimeout, budget: timeout),
            deadline: .now() + TimeAmount(timeout))
    }

    /// Runs one exchange with an absolute deadline; `request.budget` is what errors report.
    ///
    /// A GET whose connection is closed before any answer is sent once more (on another connection), within the
    /// same deadline: a kept-alive connection may be closed by the agent just as we reuse it (an agent that just
    /// stopped, its FIN not yet read), and a GET (health probe) is safe to repeat. A POST is never repeated: the
    /// agent may have read it and acted before closing.
    func perform(_ request: Request, deadline: NIODeadline) async throws -> AgentHTTPResponse {
        do {
            return try await performOnce(request, deadline: deadline)
        } catch AgentHTTPError.connectionReset where request.method == .GET {
            return try await performOnce(request, deadline: deadline)
        }
    }

    private func performOnce(_ request: Request, deadline: NIODeadline) async throws -> AgentHTTPResponse {
        try Task.checkCancellation()
        let handle = try start(request, deadline: deadline)
        do {
            return try await withTaskCancellationHandler {
                try await handle.futureResult.get()
            } onCancel: {
                handle.cancel()
            }
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw error
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
        let request = Request(
            method: .POST, endpoint: endpoint, path: path, headers: headers, body: body,
            connectTimeout: connectTimeout, budget: timeout)
        do {
            return try start(request, deadline: .now() + TimeAmount(timeout)).futureResult
        } catch {
            return eventLoopGroup.any().makeFailedFuture(error)
        }
    }

    /// Connections open to `endpoint` (idle or busy) in this client's pool (for tests).
    func openConnections(to endpoint: AgentEndpoint) -> Int { pool.openConnections(to: endpoint) }

    /// Calls waiting for a connection to `endpoint` in this client's pool (for tests).
    func waitingCalls(for endpoint: AgentEndpoint) -> Int { pool.waitingCalls(for: endpoint) }

    /// Checks what would not make a valid request line or header, then hands the call to the pool.
    private func start(_ request: Request, deadline: NIODeadline) throws -> AgentExchangeHandle {
        try Self.validate(request)
        return pool.start(request, deadline: deadline, maxResponseBytes: configuration.maxResponseBytes)
    }

    /// A path must be an absolute path without spaces or control characters, and header names and values must not
    /// hold line breaks: either would let a value (a resource uuid from a message) write its own request lines.
    static func validate(_ request: Request) throws {
        let path = request.path.utf8
        guard path.first == UInt8(ascii: "/"), path.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw AgentHTTPError.connectFailed(endpoint: request.endpoint, reason: "\(request.path): not a valid request path")
        }
        for (name, value) in request.headers {
            let nameIsToken = !name.isEmpty && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
            let valueIsText = value.utf8.allSatisfy { $0 != 0x0D && $0 != 0x0A && $0 != 0 }
            guard nameIsToken, valueIsText else {
                throw AgentHTTPError.connectFailed(
                    endpoint: request.endpoint, reason: "\(request.path): header \(name) is not a valid HTTP header")
            }
        }
    }
}
