import AgentHTTP
import CloudBusTesting
import Foundation
import Logging
import Testing

/// Promises of the callback port beyond `CallbackServerTests`: written for a hummingbird version of the listener
/// (measured and not kept, BENCHMARKS.md), they hold for the NIO listener too.
@Suite("CallbackServer: oversize bodies, bind errors, shutdown", .timeLimit(.minutes(1)))
struct CallbackServerLifecycleTests {
    let client = AgentHTTPClient()

    private func endpoint(of server: CallbackServer) -> AgentEndpoint {
        AgentEndpoint(host: "127.0.0.1", port: server.port)
    }

    @Test("a callback over maxBodyBytes is answered 413 and the connection keeps serving")
    func tooLarge() async throws {
        let server = try await CallbackServer.start(configuration: .init(maxBodyBytes: 16), logger: Logger.quiet)
        let large = try await client.post(
            to: endpoint(of: server), path: server.configuration.callbackPath,
            headers: ["taskuuid": "0123456789abcdef0123456789abcdef"], body: Data(repeating: 0x41, count: 100_000),
            connectTimeout: .seconds(5), timeout: .seconds(5))
        let small = try await client.post(
            to: endpoint(of: server), path: server.configuration.callbackPath,
            headers: ["taskuuid": "0123456789abcdef0123456789abcdee"], body: Data("{}".utf8),
            connectTimeout: .seconds(5), timeout: .seconds(5))
        await server.shutdown()
        #expect(large.status == 413)
        #expect(small.status == 200)
    }

    @Test("start throws when the port is taken")
    func bindError() async throws {
        let first = try await CallbackServer.start(logger: Logger.quiet)
        await #expect(throws: (any Error).self) {
            let second = try await CallbackServer.start(configuration: .init(port: first.port), logger: Logger.quiet)
            await second.shutdown()
        }
        await first.shutdown()
    }

    @Test("shutdown is idempotent and closes the port")
    func shutdownTwice() async throws {
        let server = try await CallbackServer.start(logger: Logger.quiet)
        await server.shutdown()
        await server.shutdown()
        await #expect(throws: AgentHTTPError.connectionRefused(endpoint: endpoint(of: server))) {
            try await client.get(from: endpoint(of: server), path: "/healthz", connectTimeout: .seconds(5), timeout: .seconds(5))
        }
    }
}
