import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Posts JSON to remote agents over HTTP/1.1 through async-http-client, with a connect timeout and an overall
/// deadline per call.
///
/// One value is cheap to copy and safe to share; it owns nothing that must be closed (see ``AgentHTTPPools``).
///
/// Promises:
/// - **Kept-alive connections per agent.** Calls reuse idle connections to the same `host:port` (and the same
///   connect timeout, see below); a connection idle for ``Configuration/idleTimeout`` is closed by us, before the
///   agent's own keep-alive timeout (CherryPy's is 10 s) can close it under a call we are sending.
/// - **No hidden retries.** A failure is reported once, as an ``AgentHTTPError`` naming endpoint and path: a failed
///   connect fails the calls waiting for it at once (async-http-client's connect retries are off), a connection
///   closed under a POST is ``AgentHTTPError/connectionReset(endpoint:path:)``, never re-sent. The one exception is
///   a GET (health probe, idempotent) whose connection closed before any answer: it is sent once more.
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
        let task: HTTPClient.Task<HTTPClient.Response>
        do {
            task = try start(request, deadline: deadline)
        } catch {
            throw Self.agentError(error, request: request, deadline: deadline)
        }
        do {
            let response = try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
            return Self.agentResponse(response)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.agentError(error, request: request, deadline: deadline)
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
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        do {
            return try start(request, deadline: deadline).futureResult.flatMapErrorThrowing { error in
                throw Self.agentError(error, request: request, deadline: deadline)
            }.map(Self.agentResponse)
        } catch {
            return eventLoopGroup.any().makeFailedFuture(Self.agentError(error, request: request, deadline: deadline))
        }
    }

    /// Hands the request to the pooled client for its connect timeout.
    private func start(_ request: Request, deadline: NIODeadline) throws -> HTTPClient.Task<HTTPClient.Response> {
        // A connect timeout that cannot run out before the deadline adds nothing: such calls share the client
        // bounded by deadlines alone, so a budget computed per call (min(connectTimeout, remaining)) does not
        // make a client per value.
        let connectTimeout = request.connectTimeout < request.budget ? request.connectTimeout : nil
        let client = AgentHTTPPools.shared.client(
            eventLoopGroup: eventLoopGroup, connectTimeout: connectTimeout, configuration: configuration)

        var headers = HTTPHeaders()
        headers.reserveCapacity(1 + request.headers.count)
        if request.method == .POST { headers.add(name: "Content-Type", value: "application/json") }
        for (name, value) in request.headers {
            headers.replaceOrAdd(name: name, value: value)
        }
        var httpRequest = try RequestTemplates.shared.template(
            endpoint: request.endpoint, path: request.path, method: request.method)
        httpRequest.headers = headers
        if request.method == .POST { httpRequest.body = .bytes(request.body) }
        let accumulator = ResponseAccumulator(request: httpRequest, maxBodySize: configuration.maxResponseBytes)
        return client.execute(
            request: httpRequest, delegate: accumulator, eventLoop: .indifferent, deadline: deadline, logger: nil)
    }

    private static func agentResponse(_ response: HTTPClient.Response) -> AgentHTTPResponse {
        let body = response.body.map { buffer in buffer.withUnsafeReadableBytes { Data($0) } } ?? Data()
        return AgentHTTPResponse(status: Int(response.status.code), body: body)
    }
}

/// Parsed requests without headers or body, per endpoint, path and method: parsing the URL (`URL(string:)`, then
/// async-http-client's checks of it) was ~1.5 % of a ping's CPU, for the same handful of URLs per agent every time.
/// A call copies its template and sets headers and body.
///
/// Bounded: past ``capacity`` templates (more agents and paths than a worker calls) the cache starts over.
final class RequestTemplates: Sendable {
    static let shared = RequestTemplates()
    static let capacity = 4_096

    private struct Key: Hashable {
        var endpoint: AgentEndpoint
        var path: String
        /// `HTTPMethod` is not `Hashable`; its name is.
        var method: String
    }

    private let templates = Mutex<[Key: HTTPClient.Request]>([:])

    /// The template for `method` on `http://<endpoint><path>`; throws what async-http-client throws for a URL it
    /// refuses (nothing is cached then).
    func template(endpoint: AgentEndpoint, path: String, method: HTTPMethod) throws -> HTTPClient.Request {
        let key = Key(endpoint: endpoint, path: path, method: method.rawValue)
        if let template = templates.withLock({ $0[key] }) { return template }
        let template = try HTTPClient.Request(url: endpoint.url(path: path), method: method)
        templates.withLock { templates in
            if templates.count >= Self.capacity { templates.removeAll(keepingCapacity: true) }
            templates[key] = template
        }
        return template
    }

    /// Templates held now (for tests).
    var count: Int { templates.withLock { $0.count } }
}
