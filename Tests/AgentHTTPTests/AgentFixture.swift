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


    static func with<T>(
        serverConfiguration: CallbackServer.Configuration = .init(),
        _ body: (AgentFixture) async throws -> T
    ) async throws -> T {
        try await LoopbackKVMAgent.with(serverConfiguration: serverConfiguration) { loopback in
            try await body(AgentFixture(server: loopback.server, agent: loopback.agent, caller: loopback.caller))
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

/// The JSON object in `data`, for assertions.
func jsonObject(_ data: Data) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}
