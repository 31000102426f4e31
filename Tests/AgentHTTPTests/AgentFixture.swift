import AgentHTTP
import CloudBusTesting
import Foundation
import Logging
import Testing

/// A callback server, a fake kvmagent and a caller wired together over loopback, torn down on every exit path.
struct AgentFixture {
    let server: CallbackServer
    let agent: FakeKVMAgent
    let caller: AgentCaller

    static let quietLogger = Logger(label: "agent-http-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    static func with<T>(
        serverConfiguration: CallbackServer.Configuration = .init(),
        _ body: (AgentFixture) async throws -> T
    ) async throws -> T {
        let server = try await CallbackServer.start(configuration: serverConfiguration, logger: quietLogger)
        let agent: FakeKVMAgent
        do {
            agent = try await FakeKVMAgent.start(logger: quietLogger)
        } catch {
            await server.shutdown()
            throw error
        }
        let fixture = AgentFixture(
            server: server, agent: agent,
            caller: AgentCaller(client: AgentHTTPClient(), callbackServer: server, defaultConnectTimeout: .seconds(2)))
        do {
            let result = try await body(fixture)
            await agent.shutdown()
            await server.shutdown()
            return result
        } catch {
            await agent.shutdown()
            await server.shutdown()
            throw error
        }
    }

    /// Calls `path` on the fake agent as host `hostUuid`.
    func call(
        _ path: String, host hostUuid: String = "host-1", timeout: Duration = .seconds(5)
    ) async throws -> Data {
        try await caller.callAsync(
            agent.endpoint, path: path, body: Data(#"{"hostUuid":"\#(hostUuid)"}"#.utf8), timeout: timeout)
    }
}

/// Polls `condition` every 10 ms for at most 10 s; for outcomes that follow a call asynchronously (a dropped late
/// callback). Returns whether it became true: callers `#expect` on it, no assertion is made about time.
func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<1_000 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// The JSON object in `data`, for assertions.
func jsonObject(_ data: Data) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}
