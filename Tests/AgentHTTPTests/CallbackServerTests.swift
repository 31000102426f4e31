import AgentHTTP
import CloudBusTesting
import Foundation
import Logging
import Testing

@Suite("CallbackServer endpoints", .timeLimit(.minutes(1)))
struct CallbackServerTests {
    let client = AgentHTTPClient()

    private func endpoint(of server: CallbackServer) -> AgentEndpoint {
        AgentEndpoint(host: "127.0.0.1", port: server.port)
    }

    @Test("binds an ephemeral port on 127.0.0.1 and advertises it in the callback URL")
    func boundAddress() async throws {
        let server = try await CallbackServer.start(logger: Logger.quiet)
        #expect(server.port > 0)
        #expect(server.callbackURL == "http://127.0.0.1:\(server.port)/zstack/asyncrest/callback")
        await server.shutdown()
    }

    @Test("GET /healthz answers 200 ok")
    func healthz() async throws {
        let server = try await CallbackServer.start(logger: Logger.quiet)
        let response = try await client.get(from: endpoint(of: server), path: "/healthz", connectTimeout: .seconds(5), timeout: .seconds(5))
        await server.shutdown()
        #expect(response == AgentHTTPResponse(status: 200, body: Data("ok".utf8)))
    }

    @Test("extra GET routes are served next to /healthz")
    func extraRoute() async throws {
        let server = try await CallbackServer.start(
            configuration: .init(getRoutes: ["/metrics": { .init(body: "calls_total 3\n") }]),
            logger: Logger.quiet)
        let metrics = try await client.get(
            from: endpoint(of: server), path: "/metrics", connectTimeout: .seconds(5), timeout: .seconds(5))
        let missing = try await client.get(
            from: endpoint(of: server), path: "/nothing", connectTimeout: .seconds(5), timeout: .seconds(5))
        await server.shutdown()
        #expect(metrics == AgentHTTPResponse(status: 200, body: Data("calls_total 3\n".utf8)))
        #expect(missing.status == 404)
    }

    @Test("a callback for an unknown task is answered 200, dropped and counted")
    func unknownTask() async throws {
        let server = try await CallbackServer.start(logger: Logger.quiet)
        let response = try await client.post(
            to: endpoint(of: server), path: server.configuration.callbackPath,
            headers: ["taskuuid": "0123456789abcdef0123456789abcdef"], body: Data(#"{"success":true}"#.utf8),
            connectTimeout: .seconds(5), timeout: .seconds(5))
        let statistics = server.statistics
        await server.shutdown()
        #expect(response.status == 200)
        #expect(statistics == .init(delivered: 0, dropped: 1, pending: 0))
    }

    @Test("a callback without taskuuid is answered 400 and not counted as a delivery")
    func missingTaskUUID() async throws {
        let server = try await CallbackServer.start(logger: Logger.quiet)
        let response = try await client.post(
            to: endpoint(of: server), path: server.configuration.callbackPath, body: Data("{}".utf8),
            connectTimeout: .seconds(5), timeout: .seconds(5))
        let statistics = server.statistics
        await server.shutdown()
        #expect(response.status == 400)
        #expect(statistics.delivered == 0)
    }

    @Test("run() serves until its task is cancelled, then the port is closed")
    func runUntilCancelled() async throws {
        let server = try await CallbackServer.start(logger: Logger.quiet)
        let running = Task { try await server.run() }
        let before = try await client.get(from: endpoint(of: server), path: "/healthz", connectTimeout: .seconds(5), timeout: .seconds(5))
        running.cancel()
        try await running.value
        #expect(before.status == 200)
        await #expect(throws: AgentHTTPError.connectionRefused(endpoint: endpoint(of: server))) {
            try await client.get(from: endpoint(of: server), path: "/healthz", connectTimeout: .seconds(5), timeout: .seconds(5))
        }
    }
}
