import Foundation
import Metrics
import NIOCore
import NIOHTTP1

/// Calls remote agents the way ZStack's agents expect to be called; what the KVM and ZBS modules use.
///
/// - ``callAsync(_:path:body:timeout:connectTimeout:headers:)`` for async paths (kvmagent `/host/ping`,
///   `/vm/vmsync`, `/sync/vm/deviceinfo`; most ZBS paths): POST with `taskuuid` and `callbackurl`, then wait for the
///   agent to POST the result to the ``CallbackServer``.
/// - ``callSync(_:path:body:timeout:connectTimeout:headers:)`` for sync paths (ZBS `/echo`, `/volume/clients`): the
///   result is the response body.
///
/// Both return the agent's JSON untouched: an answer with `success=false` is returned, not thrown (read it with
/// ``AgentResponseStatus``). They throw ``AgentHTTPError`` when no answer could be had (transport failures) or when
/// the agent's handler failed outright (``AgentHTTPError/agentFailure(endpoint:path:message:)``), and
/// `CancellationError` when the calling task is cancelled. There are no retries. Calls are independent: each has
/// its own task uuid, request, timer and waiter, and completes exactly once (connections are pooled per agent, see
/// ``AgentHTTPClient``).
///
/// Every call is counted by path and outcome and timed by path (``AgentHTTPMetrics``), whichever way it ends.
public struct AgentCaller: Sendable {
    public let client: AgentHTTPClient
    public let callbackServer: CallbackServer
    /// Connect timeout used when a call does not give one.
    public var defaultConnectTimeout: Duration
    /// Shared by copies of this caller, so a path's handles are made once per worker, not once per copy.
    let metrics: AgentCallMetrics

    /// - Parameter metrics: where the agent-call families (``AgentHTTPMetrics``) are created; a path's handles
    ///   are made on its first call and cached.
    public init(
        client: AgentHTTPClient, callbackServer: CallbackServer, defaultConnectTimeout: Duration = .seconds(5),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.client = client
        self.callbackServer = callbackServer
        self.defaultConnectTimeout = defaultConnectTimeout
        self.metrics = AgentCallMetrics(factory: metrics)
    }

    /// Runs one call of `path`, counting how it ended and how long it took.
    private func measured(_ path: String, _ call: () async throws -> Data) async throws -> Data {
        let handles = metrics.handles(path)
        let start = ContinuousClock.now
        do {
            let body = try await call()
            handles.record(.ok, since: start)
            return body
        } catch {
            handles.record(AgentHTTPMetrics.AgentCallOutcome(error), since: start)
            throw error
        }
    }

    /// Calls an async agent path and returns the body the agent called back with.
    ///
    /// `timeout` covers the whole round trip: the POST being accepted and the callback arriving. A callback that
    /// comes later is dropped by the callback server. The waiter is unregistered on every exit path.
    ///
    /// - Parameters:
    ///   - headers: extra request headers (e.g. `X-Resource-UUID`); `taskuuid` and `callbackurl` are set here and
    ///     cannot be overridden.
    /// - Throws: ``AgentHTTPError``: transport cases for refused/reset/timeouts/non-2xx POST answers;
    ///   ``AgentHTTPError/noCallback(endpoint:path:taskUUID:timeout:)`` when the agent accepted but did not call
    ///   back in time; ``AgentHTTPError/agentFailure(endpoint:path:message:)`` when the callback carries the
    ///   `error` header or a body that is not a JSON object; ``AgentHTTPError/callbackServerUnavailable(endpoint:path:)``
    ///   when the callback server is shut down. `CancellationError` on task cancellation.
    public func callAsync(
        _ endpoint: AgentEndpoint,
        path: String,
        body: Data,
        timeout: Duration,
        connectTimeout: Duration? = nil,
        headers: [String: String] = [:]
    ) async throws -> Data {
        try await measured(path) {
            try await performAsync(
                endpoint, path: path, body: body, timeout: timeout, connectTimeout: connectTimeout, headers: headers)
        }
    }

    private func performAsync(
        _ endpoint: AgentEndpoint, path: String, body: Data, timeout: Duration, connectTimeout: Duration?,
        headers: [String: String]
    ) async throws -> Data {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let registry = callbackServer.registry
        let taskUUID = TaskUUID.make()
        guard registry.register(taskUUID) else {
            throw AgentHTTPError.callbackServerUnavailable(endpoint: endpoint, path: path)
        }
        defer { registry.unregister(taskUUID) }

        var requestHeaders = headers.filter { !["taskuuid", "callbackurl"].contains($0.key.lowercased()) }
        requestHeaders["taskuuid"] = taskUUID
        requestHeaders["callbackurl"] = callbackServer.callbackURL
        let request = AgentHTTPClient.Request(
            method: .POST, endpoint: endpoint, path: path, headers: requestHeaders, body: body,
            connectTimeout: connectTimeout ?? defaultConnectTimeout, budget: timeout)
        let response = try await client.perform(request, deadline: deadline)
        guard response.isSuccess else {
            throw AgentHTTPError.httpStatus(
                endpoint: endpoint, path: path, code: response.status,
                bodySnippet: AgentHTTPError.snippet(of: response.body))
        }

        // On the calling loop when the call runs on one (`any()` prefers it): scheduling and cancelling the timer
        // on another loop would wake that loop twice per call.
        let timer = client.eventLoopGroup.any().scheduleTask(deadline: deadline) {
            registry.fail(
                taskUUID,
                with: AgentHTTPError.noCallback(endpoint: endpoint, path: path, taskUUID: taskUUID, timeout: timeout))
        }
        defer { timer.cancel() }

        let callback: AgentCallback
        do {
            callback = try await registry.wait(for: taskUUID)
        } catch is CallbackRegistry.Closed {
            throw AgentHTTPError.callbackServerUnavailable(endpoint: endpoint, path: path)
        }
        if let error = callback.errorHeader {
            throw AgentHTTPError.agentFailure(endpoint: endpoint, path: path, message: error)
        }
        guard Self.looksLikeJSONObject(callback.body) else {
            throw AgentHTTPError.agentFailure(
                endpoint: endpoint, path: path,
                message: "callback body is not JSON: \(AgentHTTPError.snippet(of: callback.body))")
        }
        return callback.body
    }

    /// Calls a sync agent path and returns the response body (2xx only).
    ///
    /// - Throws: ``AgentHTTPError`` transport cases, including ``AgentHTTPError/httpStatus(endpoint:path:code:bodySnippet:)``
    ///   for a non-2xx answer; `CancellationError` on task cancellation.
    public func callSync(
        _ endpoint: AgentEndpoint,
        path: String,
        body: Data,
        timeout: Duration,
        connectTimeout: Duration? = nil,
        headers: [String: String] = [:]
    ) async throws -> Data {
        try await measured(path) {
            try await performSync(
                endpoint, path: path, body: body, timeout: timeout, connectTimeout: connectTimeout, headers: headers)
        }
    }

    private func performSync(
        _ endpoint: AgentEndpoint, path: String, body: Data, timeout: Duration, connectTimeout: Duration?,
        headers: [String: String]
    ) async throws -> Data {
        let response = try await client.post(
            to: endpoint, path: path, headers: headers, body: body,
            connectTimeout: connectTimeout ?? defaultConnectTimeout, timeout: timeout)
        guard response.isSuccess else {
            throw AgentHTTPError.httpStatus(
                endpoint: endpoint, path: path, code: response.status,
                bodySnippet: AgentHTTPError.snippet(of: response.body))
        }
        return response.body
    }

    /// A cheap shape check (first and last non-blank bytes are `{` and `}`): agent results are JSON objects, a
    /// raised handler sends a traceback. The full parse is the caller's, so the body is not parsed twice.
    static func looksLikeJSONObject(_ body: Data) -> Bool {
        let blanks: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard let first = body.first(where: { !blanks.contains($0) }),
            let last = body.last(where: { !blanks.contains($0) })
        else { return false }
        return first == UInt8(ascii: "{") && last == UInt8(ascii: "}")
    }
}
