import AgentHTTP
import CloudBusTesting
import Foundation
import Testing

@Suite("FakeKVMAgent speaks kvmagent's async protocol", .timeLimit(.minutes(1)))
struct FakeKVMAgentTests {
    let client = AgentHTTPClient()

    @Test("an async path without taskuuid is answered 400 like kvmagent")
    func missingTaskUUID() async throws {
        try await AgentFixture.with { fixture in
            let response = try await client.post(
                to: fixture.agent.endpoint, path: "/host/ping", body: Data(#"{"hostUuid":"h"}"#.utf8),
                connectTimeout: .seconds(5), timeout: .seconds(5))
            #expect(response.status == 400)
            #expect(String(decoding: response.body, as: UTF8.self) == "taskUuid missing in request header")
            #expect(fixture.agent.callbacksSent == 0)
        }
    }

    @Test("an accepted async request is answered 200 with an empty body")
    func acceptedEmptyBody() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: "/vm/vmsync")
            let response = try await client.post(
                to: fixture.agent.endpoint, path: "/vm/vmsync",
                headers: ["taskuuid": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "callbackurl": fixture.server.callbackURL],
                body: Data("{}".utf8), connectTimeout: .seconds(5), timeout: .seconds(5))
            #expect(response == AgentHTTPResponse(status: 200, body: Data()))
        }
    }

    @Test("a request whose taskuuid is still running is ignored")
    func duplicateTaskIgnored() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.holdCallback(), for: "/host/ping")
            let headers = ["taskuuid": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "callbackurl": fixture.server.callbackURL]
            for _ in 0..<2 {
                let response = try await client.post(
                    to: fixture.agent.endpoint, path: "/host/ping", headers: headers, body: Data("{}".utf8),
                    connectTimeout: .seconds(5), timeout: .seconds(5))
                #expect(response.status == 200)
            }
            #expect(fixture.agent.ignoredDuplicates == 1)
            #expect(fixture.agent.heldCallbackCount == 1)
            #expect(fixture.agent.receivedRequests(path: "/host/ping").count == 2)
        }
    }

    @Test("behaviour scripted for one host does not affect another")
    func perHostBehaviour() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.fail(error: "host-bad is sick"), for: "/host/ping", host: "host-bad")
            let bad = try #require(AgentResponseStatus(json: try await fixture.call("/host/ping", host: "host-bad")))
            let good = try #require(AgentResponseStatus(json: try await fixture.call("/host/ping", host: "host-good")))
            #expect(bad == AgentResponseStatus(success: false, error: "host-bad is sick"))
            #expect(good == AgentResponseStatus(success: true, error: nil))
        }
    }

    @Test("deviceinfo answers success with empty device lists for the asked VM")
    func deviceInfoDefault() async throws {
        try await AgentFixture.with { fixture in
            let body = try await fixture.caller.callAsync(
                fixture.agent.endpoint, path: "/sync/vm/deviceinfo",
                body: Data(#"{"vmInstanceUuid":"vm-7"}"#.utf8), timeout: .seconds(5))
            let answer = try jsonObject(body)
            #expect(answer["success"] as? Bool == true)
            #expect((answer["nicInfos"] as? [Any])?.isEmpty == true)
            #expect((answer["virtualDeviceInfoList"] as? [Any])?.isEmpty == true)
            #expect((answer["virtualizerInfo"] as? [String: Any])?["uuid"] as? String == "vm-7")
        }
    }

    @Test("a callback scheduled later arrives in time when the budget allows")
    func callBackAfterWithinBudget() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.callBackAfter(.milliseconds(50), json: #"{"success":true,"late":false}"#), for: "/host/ping")
            let body = try await fixture.call("/host/ping", timeout: .seconds(10))
            #expect(try jsonObject(body)["late"] as? Bool == false)
        }
    }
}

@Suite("Small pieces")
struct SmallPiecesTests {
    @Test("AgentResponseStatus reads success and error, and rejects non-objects")
    func responseStatus() {
        #expect(AgentResponseStatus(json: Data(#"{"success":true}"#.utf8)) == .init(success: true, error: nil))
        #expect(AgentResponseStatus(json: Data(#"{"success":false,"error":"boom"}"#.utf8)) == .init(success: false, error: "boom"))
        #expect(AgentResponseStatus(json: Data(#"{"error":null}"#.utf8)) == .init(success: false, error: nil))
        #expect(AgentResponseStatus(json: Data("Traceback".utf8)) == nil)
        #expect(AgentResponseStatus(json: Data("[1]".utf8)) == nil)
    }

    @Test("endpoint descriptions and URLs bracket IPv6 literals")
    func endpointDescription() {
        #expect(AgentEndpoint(host: "127.0.0.5", port: 7070).url(path: "/host/ping") == "http://127.0.0.5:7070/host/ping")
        #expect(AgentEndpoint(host: "::1", port: 7070).description == "[::1]:7070")
    }

    @Test("only agentFailure is not a transport failure")
    func transportClassification() {
        let endpoint = AgentEndpoint(host: "127.0.0.1", port: 1)
        #expect(AgentHTTPError.connectionRefused(endpoint: endpoint).isTransportFailure)
        #expect(AgentHTTPError.httpStatus(endpoint: endpoint, path: "/p", code: 500, bodySnippet: "").isTransportFailure)
        #expect(!AgentHTTPError.agentFailure(endpoint: endpoint, path: "/p", message: "x").isTransportFailure)
        #expect(AgentHTTPError.deadlineExceeded(endpoint: endpoint, path: "/p", timeout: .seconds(1)).isDeadline)
        #expect(!AgentHTTPError.connectTimeout(endpoint: endpoint, timeout: .seconds(1)).isDeadline)
    }
}
