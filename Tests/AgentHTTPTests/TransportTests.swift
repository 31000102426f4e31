import AgentHTTP
import CloudBusTesting
import Foundation
import Testing

@Suite("AgentHTTPClient and sync calls against dead and silent loopback peers", .timeLimit(.minutes(1)))
struct TransportTests {
    let client = AgentHTTPClient()

    @Test("a closed port is connectionRefused")
    func refused() async throws {
        let closed = try await ClosedLoopbackPort.make()
        let error = try await #require(throws: AgentHTTPError.self) {
            try await client.post(
                to: closed.endpoint, path: "/echo", body: Data("{}".utf8),
                connectTimeout: .seconds(5), timeout: .seconds(30))
        }
        #expect(error == .connectionRefused(endpoint: closed.endpoint))
        #expect(error.description == "agent \(closed.endpoint): connection refused")
    }

    @Test("a listener that accepts but never answers ends with deadlineExceeded")
    func silentPeer() async throws {
        let silent = try await SilentLoopbackListener.start()
        let error = try await #require(throws: AgentHTTPError.self) {
            try await client.post(
                to: silent.endpoint, path: "/echo", body: Data("{}".utf8),
                connectTimeout: .seconds(5), timeout: .milliseconds(300))
        }
        #expect(error == .deadlineExceeded(endpoint: silent.endpoint, path: "/echo", timeout: .milliseconds(300)))
        await silent.close()
    }

    @Test("a listener whose accept queue is full ends with connectTimeout")
    func neverAccepting() async throws {
        let listener = try await NeverAcceptingListener.start()
        let error = try await #require(throws: AgentHTTPError.self) {
            try await client.post(
                to: listener.endpoint, path: "/echo", body: Data("{}".utf8),
                connectTimeout: .milliseconds(300), timeout: .seconds(30))
        }
        await listener.close()
        #expect(error == .connectTimeout(endpoint: listener.endpoint, timeout: .milliseconds(300)))
    }

    @Test("the overall deadline also bounds a connect that would outlast it")
    func deadlineShorterThanConnectTimeout() async throws {
        let listener = try await NeverAcceptingListener.start()
        let error = try await #require(throws: AgentHTTPError.self) {
            try await client.post(
                to: listener.endpoint, path: "/echo", body: Data("{}".utf8),
                connectTimeout: .seconds(30), timeout: .milliseconds(300))
        }
        await listener.close()
        #expect(error == .deadlineExceeded(endpoint: listener.endpoint, path: "/echo", timeout: .milliseconds(300)))
    }

    @Test("callSync returns the response body and sends no taskuuid")
    func syncCall() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.httpStatus(200, #"{"success":true,"clients":[]}"#), for: "/zbs/primarystorage/echo")
            let body = try await fixture.caller.callSync(
                fixture.agent.endpoint, path: "/zbs/primarystorage/echo", body: Data("{}".utf8), timeout: .seconds(5))
            #expect(String(decoding: body, as: UTF8.self) == #"{"success":true,"clients":[]}"#)
            let request = try #require(fixture.agent.receivedRequests(path: "/zbs/primarystorage/echo").first)
            #expect(request.taskUUID == nil)
            #expect(request.headers["content-type"] == "application/json")
        }
    }

    @Test("callSync turns a non-2xx answer into httpStatus")
    func syncCallNon2xx() async throws {
        try await AgentFixture.with { fixture in
            let error = try await #require(throws: AgentHTTPError.self) {
                try await fixture.caller.callSync(
                    fixture.agent.endpoint, path: "/no/such/path", body: Data("{}".utf8), timeout: .seconds(5))
            }
            #expect(error == .httpStatus(
                endpoint: fixture.agent.endpoint, path: "/no/such/path", code: 404, bodySnippet: "not found"))
        }
    }

    @Test("extra headers reach the agent; taskuuid and callbackurl cannot be overridden")
    func extraHeaders() async throws {
        try await AgentFixture.with { fixture in
            _ = try await fixture.caller.callAsync(
                fixture.agent.endpoint, path: "/sync/vm/deviceinfo",
                body: Data(#"{"vmInstanceUuid":"vm-9"}"#.utf8), timeout: .seconds(5),
                headers: ["X-Resource-UUID": "host-x", "TaskUUID": "forged"])
            let request = try #require(fixture.agent.receivedRequests(path: "/sync/vm/deviceinfo").first)
            #expect(request.headers["x-resource-uuid"] == "host-x")
            #expect(request.hostUuid == "host-x")
            #expect(request.taskUUID != "forged")
            #expect(request.taskUUID?.count == 32)
        }
    }
}

@Suite("Name resolution", .timeLimit(.minutes(1)))
struct NameResolutionTests {
    @Test("a host name resolving to loopback with nothing listening is connectionRefused")
    func localhostRefused() async throws {
        let closed = try await ClosedLoopbackPort.make()
        let endpoint = AgentEndpoint(host: "localhost", port: closed.port)
        let error = try await #require(throws: AgentHTTPError.self) {
            try await AgentHTTPClient().post(
                to: endpoint, path: "/echo", body: Data("{}".utf8), connectTimeout: .seconds(5), timeout: .seconds(10))
        }
        #expect(error == .connectionRefused(endpoint: endpoint))
    }
}
