import AgentHTTP
import CloudBusTesting
import Foundation
import Testing

@Suite("Async agent calls against the fake kvmagent over loopback", .timeLimit(.minutes(1)))
struct AsyncCallTests {
    @Test("ping: the callback body reaches the caller and the request carried taskuuid + callbackurl")
    func pingHappyPath() async throws {
        try await AgentFixture.with { fixture in
            let body = try await fixture.call("/host/ping", host: "host-a")

            let answer = try jsonObject(body)
            #expect(answer["success"] as? Bool == true)
            #expect(answer["hostUuid"] as? String == "host-a")
            #expect(answer["version"] as? String == "4.8.0")
            #expect(AgentResponseStatus(json: body) == AgentResponseStatus(success: true, error: nil))

            let request = try #require(fixture.agent.receivedRequests(path: "/host/ping").first)
            let taskUUID = try #require(request.taskUUID)
            #expect(taskUUID.count == 32)
            #expect(taskUUID.allSatisfy { $0.isHexDigit })
            #expect(request.callbackURL == fixture.server.callbackURL)
            #expect(request.hostUuid == "host-a")
            #expect(fixture.server.statistics == .init(delivered: 1, dropped: 0, pending: 0))
        }
    }

    @Test("vmsync reports the states scripted for the asking host only")
    func vmsyncPerHost() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setVMReport(
                .init(states: ["vm-1": "Running", "vm-2": "Shutdown"], vmInShutdowns: ["vm-2"]), host: "host-a")

            let a = try jsonObject(try await fixture.call("/vm/vmsync", host: "host-a"))
            let b = try jsonObject(try await fixture.call("/vm/vmsync", host: "host-b"))

            #expect(a["states"] as? [String: String] == ["vm-1": "Running", "vm-2": "Shutdown"])
            #expect(a["vmInShutdowns"] as? [String] == ["vm-2"])
            #expect(b["states"] as? [String: String] == [:])
            #expect(b["vmInShutdowns"] as? [String] == [])
        }
    }

    @Test("success=false is an agent answer returned to the caller, not a transport error")
    func agentReportedFailure() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.fail(error: "libvirt is down"), for: "/vm/vmsync")
            let body = try await fixture.call("/vm/vmsync")
            #expect(AgentResponseStatus(json: body) == AgentResponseStatus(success: false, error: "libvirt is down"))
        }
    }

    @Test("a handler that raised (error header) is an agentFailure naming endpoint and path")
    func agentRaised() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(
                .raise(traceback: "Traceback (most recent call last):\nKeyError: 'vmUuid'"), for: "/sync/vm/deviceinfo")
            let error = try await #require(throws: AgentHTTPError.self) {
                try await fixture.call("/sync/vm/deviceinfo")
            }
            #expect(error == .agentFailure(endpoint: fixture.agent.endpoint, path: "/sync/vm/deviceinfo", message: "KeyError: 'vmUuid'"))
            #expect(!error.isTransportFailure)
            #expect(error.description.contains("\(fixture.agent.endpoint)"))
            #expect(error.description.contains("/sync/vm/deviceinfo"))
        }
    }

    @Test("a callback body that is not JSON is an agentFailure")
    func callbackNotJSON() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.answer(json: "internal server error"), for: "/host/ping")
            let error = try await #require(throws: AgentHTTPError.self) { try await fixture.call("/host/ping") }
            guard case .agentFailure(_, "/host/ping", let message) = error else {
                Issue.record("expected agentFailure, got \(error)")
                return
            }
            #expect(message.contains("internal server error"))
        }
    }

    @Test("HTTP 400 from the agent is an httpStatus transport error with the agent's text")
    func http400() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.httpStatus(400, "kvmagent is stopping"), for: "/host/ping")
            let error = try await #require(throws: AgentHTTPError.self) { try await fixture.call("/host/ping") }
            #expect(error == .httpStatus(
                endpoint: fixture.agent.endpoint, path: "/host/ping", code: 400, bodySnippet: "kvmagent is stopping"))
            #expect(error.isTransportFailure)
            #expect(fixture.server.statistics.pending == 0)
        }
    }

    @Test("a refused connection fails fast with connectionRefused and leaves no waiter")
    func connectionRefused() async throws {
        try await AgentFixture.with { fixture in
            let closed = try await ClosedLoopbackPort.make()
            let error = try await #require(throws: AgentHTTPError.self) {
                try await fixture.caller.callAsync(closed.endpoint, path: "/host/ping", body: Data("{}".utf8), timeout: .seconds(30))
            }
            #expect(error == .connectionRefused(endpoint: closed.endpoint))
            #expect(fixture.server.statistics.pending == 0)
        }
    }

    @Test("accepted but never called back ends with a deadline error after a short timeout")
    func neverCallsBack() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: "/host/ping")
            let error = try await #require(throws: AgentHTTPError.self) {
                try await fixture.call("/host/ping", timeout: .milliseconds(300))
            }
            // On a starved machine the 300 ms may run out while the POST is still in flight (deadlineExceeded);
            // either way it is the deadline that ends the call, never a hang.
            #expect(error.isDeadline)
            #expect(fixture.server.statistics.pending == 0)
        }
    }

    @Test("noCallback names the task the agent accepted")
    func noCallbackNamesTask() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: "/host/ping")
            // A budget that leaves the POST ample time even on a loaded CI machine, so the callback phase is
            // where it runs out.
            let error = try await #require(throws: AgentHTTPError.self) {
                try await fixture.call("/host/ping", timeout: .seconds(3))
            }
            let taskUUID = try #require(fixture.agent.receivedRequests(path: "/host/ping").first?.taskUUID)
            #expect(error == .noCallback(
                endpoint: fixture.agent.endpoint, path: "/host/ping", taskUUID: taskUUID, timeout: .seconds(3)))
            #expect(error.description.contains(taskUUID))
            #expect(fixture.server.statistics.pending == 0)
        }
    }

    @Test("an agent that never answers the POST ends with deadlineExceeded")
    func hangingRequest() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.hangRequest, for: "/vm/vmsync")
            let error = try await #require(throws: AgentHTTPError.self) {
                try await fixture.call("/vm/vmsync", timeout: .milliseconds(300))
            }
            #expect(error == .deadlineExceeded(
                endpoint: fixture.agent.endpoint, path: "/vm/vmsync", timeout: .milliseconds(300)))
            #expect(fixture.server.statistics.pending == 0)
        }
    }

    @Test("a connection closed without an answer is connectionReset")
    func closedWithoutAnswer() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.closeConnection, for: "/host/ping")
            let error = try await #require(throws: AgentHTTPError.self) { try await fixture.call("/host/ping") }
            #expect(error == .connectionReset(endpoint: fixture.agent.endpoint, path: "/host/ping"))
        }
    }

    @Test("a callback after the timeout is dropped and counted, and the next call still works")
    func lateCallbackDropped() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.holdCallback(), for: "/host/ping", host: "slow-host")
            let error = try await #require(throws: AgentHTTPError.self) {
                try await fixture.call("/host/ping", host: "slow-host", timeout: .seconds(2))
            }
            #expect(error.isDeadline)
            #expect(fixture.server.statistics.pending == 0)

            let held = try await eventually { fixture.agent.heldCallbackCount == 1 }
            #expect(held)
            #expect(fixture.agent.releaseHeldCallbacks() == 1)
            let sent = try await eventually { fixture.agent.callbacksSent == 1 }
            #expect(sent)
            #expect(fixture.server.statistics == .init(delivered: 0, dropped: 1, pending: 0))

            let body = try await fixture.call("/host/ping", host: "fast-host")
            #expect(try jsonObject(body)["hostUuid"] as? String == "fast-host")
            #expect(fixture.server.statistics == .init(delivered: 1, dropped: 1, pending: 0))
        }
    }

    @Test("a callback after the caller was cancelled is dropped and counted")
    func callbackAfterCancellationDropped() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.holdCallback(), for: "/vm/vmsync")
            let call = Task { try await fixture.call("/vm/vmsync", timeout: .seconds(30)) }
            let held = try await eventually { fixture.agent.heldCallbackCount == 1 }
            #expect(held)
            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }

            fixture.agent.releaseHeldCallbacks()
            let sent = try await eventually { fixture.agent.callbacksSent == 1 }
            #expect(sent)
            #expect(fixture.server.statistics == .init(delivered: 0, dropped: 1, pending: 0))
        }
    }

    @Test("a result called back twice completes the call once; the second is dropped")
    func callbackTwice() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.callBackTwice(), for: "/host/ping")
            let body = try await fixture.call("/host/ping", host: "host-2x")
            #expect(try jsonObject(body)["hostUuid"] as? String == "host-2x")

            let sent = try await eventually { fixture.agent.callbacksSent == 2 }
            #expect(sent)
            #expect(fixture.server.statistics == .init(delivered: 1, dropped: 1, pending: 0))
        }
    }

    @Test("50 concurrent calls each get their own result")
    func concurrentCalls() async throws {
        try await AgentFixture.with { fixture in
            let hosts = (0..<50).map { "host-\($0)" }
            let answers = try await withThrowingTaskGroup(of: (String, String?).self) { group in
                for host in hosts {
                    group.addTask {
                        let body = try await fixture.call("/host/ping", host: host)
                        return (host, try jsonObject(body)["hostUuid"] as? String)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(answers.count == 50)
            #expect(answers.allSatisfy { $0.key == $0.value })
            let taskUUIDs = Set(fixture.agent.receivedRequests(path: "/host/ping").compactMap(\.taskUUID))
            #expect(taskUUIDs.count == 50)
            #expect(fixture.server.statistics == .init(delivered: 50, dropped: 0, pending: 0))
        }
    }

    @Test("cancelling a call waiting for its callback throws CancellationError and unregisters the waiter")
    func cancelWhileWaitingForCallback() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: "/host/ping")
            let call = Task { try await fixture.call("/host/ping", timeout: .seconds(30)) }
            let posted = try await eventually { !fixture.agent.receivedRequests(path: "/host/ping").isEmpty }
            #expect(posted)
            #expect(fixture.server.statistics.pending == 1)

            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }
            #expect(fixture.server.statistics.pending == 0)
        }
    }

    @Test("cancelling a call whose POST hangs closes the connection and throws CancellationError")
    func cancelWhilePosting() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.hangRequest, for: "/host/ping")
            let call = Task { try await fixture.call("/host/ping", timeout: .seconds(30)) }
            let posted = try await eventually { !fixture.agent.receivedRequests(path: "/host/ping").isEmpty }
            #expect(posted)

            call.cancel()
            await #expect(throws: CancellationError.self) { try await call.value }
            #expect(fixture.server.statistics.pending == 0)
        }
    }

    @Test("the public callback URL override is what agents are told")
    func publicCallbackURLOverride() async throws {
        let override = "http://127.0.0.2:8080/zstack/asyncrest/callback"
        try await AgentFixture.with(serverConfiguration: .init(publicCallbackURL: override)) { fixture in
            #expect(fixture.server.callbackURL == override)
            // The agent must not call back to the override (nothing listens there): it accepts and stays silent.
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: "/host/ping")
            let call = Task { try await fixture.call("/host/ping", timeout: .seconds(30)) }
            let posted = try await eventually { !fixture.agent.receivedRequests(path: "/host/ping").isEmpty }
            call.cancel()
            _ = try? await call.value
            #expect(posted)
            #expect(fixture.agent.receivedRequests(path: "/host/ping").first?.callbackURL == override)
        }
    }

    @Test("a call after the callback server shut down fails with callbackServerUnavailable")
    func afterShutdown() async throws {
        try await AgentFixture.with { fixture in
            await fixture.server.shutdown()
            let error = try await #require(throws: AgentHTTPError.self) { try await fixture.call("/host/ping") }
            #expect(error == .callbackServerUnavailable(endpoint: fixture.agent.endpoint, path: "/host/ping"))
        }
    }

    @Test("shutting the callback server down fails calls that wait for a callback")
    func shutdownFailsWaiters() async throws {
        try await AgentFixture.with { fixture in
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: "/host/ping")
            let call = Task { try await fixture.call("/host/ping", timeout: .seconds(30)) }
            let posted = try await eventually { !fixture.agent.receivedRequests(path: "/host/ping").isEmpty }
            #expect(posted)
            await fixture.server.shutdown()
            await #expect(throws: AgentHTTPError.callbackServerUnavailable(endpoint: fixture.agent.endpoint, path: "/host/ping")) {
                try await call.value
            }
        }
    }
}
