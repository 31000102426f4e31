@testable import AgentHTTP
import CloudBusTesting
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The connection pool's own promises (docs/design-agent-client.md): idle connections close, the per-agent limit
/// holds across loops and a call at it waits for a slot, a cancelled or failed exchange never leaves its connection
/// for reuse, a GET (not a POST) is sent once more when its kept-alive connection closes, calls made on the loops
/// stay on their loop's connections, and a header cannot write request lines. Checked on the wire with
/// ``ScriptedHTTPServer``, which counts what it accepts.
@Suite("Agent connection pool: idle timeout, limit per agent, cancellation, GET resend, loops", .timeLimit(.minutes(1)))
struct ConnectionPoolTests {
    /// A server whose `/hold` requests are answered only when `release()` is called; everything else at once.
    final class HeldServer: Sendable {
        let server: ScriptedHTTPServer
        private let gate = DispatchSemaphore(value: 0)

        init() throws {
            let gate = self.gate
            server = try ScriptedHTTPServer { head in
                if head.hasPrefix("POST /hold ") { gate.wait() }
                return .ok(#"{"success":true}"#)
            }
        }

        func release() { gate.signal() }
        func close() { server.close() }
    }

    private static func post(
        _ client: AgentHTTPClient, _ server: ScriptedHTTPServer, _ path: String, connectTimeout: Duration = .seconds(5),
        timeout: Duration = .seconds(10)
    ) async throws -> AgentHTTPResponse {
        try await client.post(
            to: server.endpoint, path: path, body: Data("{}".utf8), connectTimeout: connectTimeout, timeout: timeout)
    }

    /// Starts a `/hold` call and returns once the server holds it: the call's connection is busy until `release()`.
    private static func holding(
        _ client: AgentHTTPClient, _ held: HeldServer
    ) async throws -> Task<AgentHTTPResponse, any Error> {
        let call = Task { try await post(client, held.server, "/hold") }
        try #require(try await eventually { held.server.requests.count == 1 }, "the held call never reached the server")
        return call
    }

    @Test("an idle connection is closed after the idle timeout, and the next call connects anew")
    func idleTimeout() async throws {
        let server = try ScriptedHTTPServer { _ in .ok("{}") }
        defer { server.close() }
        let client = AgentHTTPClient(configuration: .init(idleTimeout: .milliseconds(200)))
        #expect(try await Self.post(client, server, "/a").status == 200)
        #expect(server.acceptedConnections == 1)
        #expect(try await eventually { server.openConnections == 0 }, "the idle connection was never closed")
        #expect(try await Self.post(client, server, "/b").status == 200)
        #expect(server.acceptedConnections == 2)
    }

    @Test("at the limit a call waits for a connection, and gets one when the busy call ends")
    func waitsForASlot() async throws {
        let held = try HeldServer()
        defer { held.close() }
        let client = AgentHTTPClient(configuration: .init(maxConnectionsPerAgent: 1))
        let first = try await Self.holding(client, held)
        let second = Task { try await Self.post(client, held.server, "/quick") }
        // The second call waits: no connection is opened for it while the first holds the only one.
        #expect(try await eventually { client.waitingCalls(for: held.server.endpoint) == 1 })
        #expect(client.openConnections(to: held.server.endpoint) == 1)
        #expect(held.server.acceptedConnections == 1)
        held.release()
        #expect(try await first.value.status == 200)
        #expect(try await second.value.status == 200)
        // The first call's connection was closed to hand its slot over (a connection never changes loops), and the
        // waiter connected anew. (The server may see the two overlap: it notices the close only on its next read.)
        #expect(held.server.acceptedConnections == 2)
        #expect(held.server.requests.count == 2)
    }

    @Test("at the limit a call that waits past its connect timeout fails with connectTimeout")
    func waitingEndsAtTheConnectTimeout() async throws {
        let held = try HeldServer()
        defer { held.close() }
        let client = AgentHTTPClient(configuration: .init(maxConnectionsPerAgent: 1))
        let first = try await Self.holding(client, held)
        let error = try await #require(throws: AgentHTTPError.self) {
            try await Self.post(client, held.server, "/quick", connectTimeout: .milliseconds(200))
        }
        #expect(error == .connectTimeout(endpoint: held.server.endpoint, timeout: .milliseconds(200)))
        held.release()
        #expect(try await first.value.status == 200)
        // The gave-up waiter left nothing behind: the next call reuses the kept-alive connection.
        #expect(try await Self.post(client, held.server, "/after").status == 200)
        #expect(held.server.acceptedConnections == 1)
    }

    @Test("at the limit, a connection idling on another loop is closed for the waiter, not held until the sweep")
    func idleElsewhereMakesRoom() async throws {
        let server = try ScriptedHTTPServer { _ in .ok("{}") }
        defer { server.close() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let executors = EventLoopTaskExecutor.all(of: group)
        // Idle timeout far beyond the connect timeout: only the pool's hand-over can let the second call connect.
        let client = AgentHTTPClient(
            eventLoopGroup: group, configuration: .init(idleTimeout: .seconds(60), maxConnectionsPerAgent: 1))
        let first = try await withTaskExecutorPreference(executors[0]) { try await Self.post(client, server, "/a") }
        #expect(first.status == 200)
        let second = try await withTaskExecutorPreference(executors[1]) {
            try await Self.post(client, server, "/b", connectTimeout: .seconds(3))
        }
        #expect(second.status == 200)
        #expect(server.acceptedConnections == 2)
        #expect(client.openConnections(to: server.endpoint) == 1)
        try await group.shutdownGracefully()
    }

    @Test("a cancelled call's connection is closed, never reused, and its slot is freed")
    func cancelledConnectionIsNotReused() async throws {
        let held = try HeldServer()
        defer { held.close() }
        let client = AgentHTTPClient(configuration: .init(maxConnectionsPerAgent: 1))
        let call = try await Self.holding(client, held)
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(try await eventually { client.openConnections(to: held.server.endpoint) == 0 })
        held.release()
        #expect(try await Self.post(client, held.server, "/next").status == 200)
        #expect(held.server.acceptedConnections == 2)
    }

    @Test("a GET whose kept-alive connection closes unanswered is sent once more; a POST is not")
    func getResentPostNot() async throws {
        let server = try ScriptedHTTPServer { head in
            head.contains(" /drop ") ? .close : .ok(#"{"ok":true}"#)
        }
        defer { server.close() }
        let client = AgentHTTPClient()
        // A first GET leaves a kept-alive connection; the agent then drops the next request on it unanswered.
        #expect(try await client.get(from: server.endpoint, path: "/warm", connectTimeout: .seconds(5), timeout: .seconds(5)).status == 200)
        let probe = Task {
            try await client.get(from: server.endpoint, path: "/drop", connectTimeout: .seconds(5), timeout: .seconds(5))
        }
        // Dropped every time: the GET is sent twice (once more, never a third time), then reported.
        let error = try await #require(throws: AgentHTTPError.self) { try await probe.value }
        #expect(error == .connectionReset(endpoint: server.endpoint, path: "/drop"))
        #expect(server.requests.filter { $0.hasPrefix("GET /drop ") }.count == 2)

        let post = try await #require(throws: AgentHTTPError.self) { try await Self.post(client, server, "/drop") }
        #expect(post == .connectionReset(endpoint: server.endpoint, path: "/drop"))
        #expect(server.requests.filter { $0.hasPrefix("POST /drop ") }.count == 1)
    }

    @Test("a header or path with a line break is refused before anything is sent")
    func headerInjectionRefused() async throws {
        let server = try ScriptedHTTPServer { _ in .ok("{}") }
        defer { server.close() }
        let client = AgentHTTPClient()
        let header = try await #require(throws: AgentHTTPError.self) {
            try await client.post(
                to: server.endpoint, path: "/host/ping", headers: ["X-Resource-UUID": "abc\r\nX-Evil: 1"],
                body: Data("{}".utf8), connectTimeout: .seconds(5), timeout: .seconds(5))
        }
        guard case .connectFailed(let endpoint, let reason) = header else {
            Issue.record("expected connectFailed, got \(header)")
            return
        }
        #expect(endpoint == server.endpoint && reason.contains("X-Resource-UUID"))
        let path = try await #require(throws: AgentHTTPError.self) {
            try await Self.post(client, server, "/host/ping HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /x")
        }
        guard case .connectFailed = path else {
            Issue.record("expected connectFailed, got \(path)")
            return
        }
        #expect(server.acceptedConnections == 0)
    }

    @Test("calls made on the group's loops use their own loop's connection, one per loop")
    func callsStayOnTheirLoop() async throws {
        let server = try ScriptedHTTPServer { _ in .ok("{}") }
        defer { server.close() }
        let executors = EventLoopTaskExecutor.all(of: MultiThreadedEventLoopGroup.singleton)
        let client = AgentHTTPClient()
        for executor in executors {
            for _ in 0..<3 {
                let answered = try await withTaskExecutorPreference(executor) {
                    let response = try await Self.post(client, server, "/x")
                    return (response.status, executor.eventLoop.inEventLoop)
                }
                #expect(answered.0 == 200)
                #expect(answered.1, "the call's continuation left its loop")
            }
        }
        #expect(server.acceptedConnections == executors.count)
        #expect(server.requests.count == 3 * executors.count)
    }
}
