import AgentHTTP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Primitives
import Synchronization
import Testing

@Suite("PingHostHandler over loopback HTTP")
struct PingHostHandlerTests {
    // MARK: Answers

    @Test func healthyAgentMeansConnected() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            let reply = try await ping(fixture.handler())

            #expect(reply.success)
            #expect(reply.connected)
            #expect(reply.currentHostStatus == .connected)
            #expect(reply.error == nil)
            #expect(!reply.noReconnect)
            let requests = fixture.pings
            #expect(requests.count == 1)
            #expect(requests.first?.hostUuid == PingFixture.hostUuid)
            #expect(requests.first?.taskUUID?.count == 32)
            #expect(requests.first?.callbackURL == fixture.server.callbackURL)
            #expect(try await fixture.storedStatus() == .connected)
        }
    }

    @Test func agentFailingEveryAttemptMeansDisconnected() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(.fail(error: "libvirtd is not running"), for: KVMAgentPing.path)
            let reply = try await ping(fixture.handler())

            #expect(reply.success)
            #expect(!reply.connected)
            #expect(reply.currentHostStatus == .disconnected)
            #expect(!reply.noReconnect)
            let error = try #require(reply.error)
            #expect(error.isError(.operationError))
            let details = try #require(error.details)
            #expect(details.contains("libvirtd is not running"))
            #expect(details.contains(PingFixture.hostUuid))
            #expect(details.contains(fixture.agent.endpoint.description))
            #expect(details.contains("attempt 1"))
            #expect(error.causes?.count == 2)
            #expect(error.causes?.last?.details?.contains("attempt 3") == true)
            #expect(fixture.pings.count == 3)
            #expect(try await fixture.storedStatus() == .disconnected)
        }
    }

    @Test func failingTwiceThenAnsweringMeansConnectedAfterThreeRequests() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            let agent = fixture.agent
            agent.setBehaviour(.fail(error: "busy"), for: KVMAgentPing.path)
            let pauses = Atomic<Int>(0)
            // The agent is re-scripted during the second pause, so the third attempt meets a healthy agent
            // whatever the timing.
            let handler = fixture.handler(pauseAfterFailure: { duration in
                if pauses.add(1, ordering: .relaxed).newValue == 2 {
                    agent.setBehaviour(.answer(), for: KVMAgentPing.path)
                }
                try await Task.sleep(for: duration)
            })
            let reply = try await ping(handler)

            #expect(reply.success)
            #expect(reply.connected)
            #expect(reply.error == nil)
            #expect(reply.currentHostStatus == .connected)
            #expect(pauses.load(ordering: .relaxed) == 2)
            #expect(fixture.pings.count == 3)
            #expect(try await fixture.storedStatus() == .connected)
        }
    }

    @Test func hostRecordedDisconnectedThatAnswersIsReportedAsStoredAndNotFlipped() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost(status: .disconnected)
            let reply = try await ping(fixture.handler())

            #expect(reply.connected)
            #expect(reply.currentHostStatus == .disconnected)
            #expect(try await fixture.storedStatus() == .disconnected)
        }
    }

    @Test func refusedConnectionMeansDisconnectedWithRefusedError() async throws {
        try await PingFixture.with { fixture in
            let closed = try await ClosedLoopbackPort.make()
            try await fixture.addHost(port: closed.port)
            let reply = try await ping(fixture.handler())

            #expect(reply.success)
            #expect(!reply.connected)
            let details = try #require(reply.error?.details)
            #expect(details.contains("connection refused"))
            #expect(details.contains(closed.endpoint.description))
            #expect(reply.error?.causes?.count == 2)
            #expect(try await fixture.storedStatus() == .disconnected)
        }
    }

    @Test("scenario 49: an agent answering for another host disconnects at once and asks the owner to reconnect")
    func hostUuidMismatchDisconnectsAndReconnects() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            let answer = #"{"success":true,"hostUuid":"\#(PingFixture.otherHostUuid)","version":"4.8.0"}"#
            fixture.agent.setBehaviour(.answer(json: answer), for: KVMAgentPing.path)
            let membership = ClusterMembership(selfNode: PingFixture.node)
            let synced = Mutex(0)
            let handler = fixture.handler(onPingSucceeded: { _ in synced.withLock { $0 += 1 }; return [] },
                                          membership: membership)
            let output = try await handler.handle(PingHostMsg(hostUuid: PingFixture.hostUuid), context: context())
            let reply = try #require(output.reply as? PingHostReply)

            #expect(!reply.connected)
            let details = try #require(reply.error?.details)
            #expect(details.contains("host uuid mismatch: agent reports \(PingFixture.otherHostUuid)"))
            #expect(fixture.pings.count == 1) // no retry: the agent answered, for another host
            #expect(synced.withLock { $0 } == 0) // the ping extensions (VM sync) are skipped
            #expect(try await fixture.storedStatus() == .disconnected)
            let sent = try output.messages.map(PingFixture.decodeOutbound)
            #expect(sent.count == 2)
            let reconnect = try #require(sent.first { $0.className == ReconnectHostMsg.className })
            #expect(reconnect.target == .service("host.\(PingFixture.node.rawValue)"))
            #expect(reconnect.fields["hostUuid"]?.stringValue == PingFixture.hostUuid)
            #expect(reconnect.headers["noReply"]?.stringValue == "true")
            let event = try #require(sent.first { $0.className == CanonicalEvent.className })
            #expect(event.fields["path"]?.stringValue == HostDisconnectedData.path)
        }
    }

    @Test("scenario 51: one /host/disconnected event per change, none while the host stays Disconnected")
    func disconnectEventOncePerChange() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(.fail(error: "libvirtd is not running"), for: KVMAgentPing.path)
            let handler = fixture.handler(membership: ClusterMembership(selfNode: PingFixture.node))
            let first = try await handler.handle(PingHostMsg(hostUuid: PingFixture.hostUuid), context: context())
            let events = try first.messages.map(PingFixture.decodeOutbound)
            #expect(events.count == 1)
            #expect(events.first?.target == .event(routingKey: CanonicalEvent.routingKey))
            #expect(events.first?.fields["path"]?.stringValue == HostDisconnectedData.path)
            #expect(events.first?.fields["content"]?["hostUuid"]?.stringValue == PingFixture.hostUuid)
            #expect(events.first?.fields["content"]?["reason"]?["details"]?.stringValue?
                .contains("libvirtd is not running") == true)
            #expect(events.first?.fields["managementNodeId"]?.stringValue == PingFixture.node.rawValue)
            // No ReconnectHostMsg for an agent that is down: the host tracker decides (ZStack's rule).
            #expect(!events.contains { $0.className == ReconnectHostMsg.className })

            let second = try await handler.handle(PingHostMsg(hostUuid: PingFixture.hostUuid), context: context())
            #expect(second.messages.isEmpty)
            #expect((second.reply as? PingHostReply)?.connected == false)
        }
    }

    @Test func agentRaisingIsAFailedAttempt() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(
                .raise(traceback: "Traceback (most recent call last):\nOSError: disk gone"), for: KVMAgentPing.path)
            let reply = try await ping(fixture.handler(settings: PingSettings(
                timeout: .milliseconds(1500), maxFailure: 1, sleepAfterFailure: .milliseconds(50))))

            #expect(!reply.connected)
            #expect(reply.error?.details?.contains("OSError: disk gone") == true)
            #expect(reply.error?.causes == nil)
            #expect(fixture.pings.count == 1)
        }
    }

    // MARK: Deadlines

    /// Shorter than ZStack's 10 s attempt, long enough that the reserve (a tenth) survives a loaded test machine.
    static let loadedMachineDeadline: Duration = .seconds(8)

    @Test func agentThatNeverCallsBackGetsAReplyBeforeTheDeadline() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: KVMAgentPing.path)
            // ZStack's default settings (10 s per attempt) against an 8 s message: the budget, not the settings,
            // must end the sequence. The deadline is as long as still makes that point because the handler's
            // reserve for answering is a tenth of it: 400 ms (a 4 s message) was overrun once by a full parallel
            // `make test` on two cores (a fresh-clone CI run of 0aaceae); 800 ms leaves that machine room.
            let reply = try await pingAsTheWorkerDoes(
                fixture.handler(settings: PingSettings()), deadline: Self.loadedMachineDeadline)

            #expect(reply.success)
            #expect(!reply.connected)
            #expect(reply.error?.details?.contains("did not call back") == true)
            #expect(fixture.pings.count >= 1)
            #expect(try await fixture.storedStatus() == .disconnected)
        }
    }

    @Test func wedgedAgentProcessGetsAReplyBeforeTheDeadline() async throws {
        try await PingFixture.with { fixture in
            let silent = try await SilentLoopbackListener.start()
            try await fixture.addHost(port: silent.port)
            let outcome: Result<PingHostReply, any Error>
            do {
                outcome = .success(try await pingAsTheWorkerDoes(fixture.handler(), deadline: Self.loadedMachineDeadline))
            } catch {
                outcome = .failure(error)
            }
            await silent.close()

            let reply = try outcome.get()
            #expect(!reply.connected)
            #expect(reply.error?.details?.contains("no response within") == true)
            #expect(silent.acceptedCount >= 1)
            #expect(try await fixture.storedStatus() == .disconnected)
        }
    }

    @Test func lateCallbackCountsAsFailureAndDoesNotBreakTheNextPing() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(.holdCallback(), for: KVMAgentPing.path)
            let settings = PingSettings(
                timeout: .milliseconds(1500), maxFailure: 2, sleepAfterFailure: .milliseconds(50))
            let first = try await ping(fixture.handler(settings: settings))
            #expect(!first.connected)
            #expect(first.error?.details?.contains("did not call back") == true)
            #expect(fixture.agent.heldCallbackCount == 2)

            // The results arrive after the handler gave up: dropped by the callback server, never applied.
            fixture.agent.setBehaviour(.answer(), for: KVMAgentPing.path)
            #expect(fixture.agent.releaseHeldCallbacks() == 2)
            #expect(try await eventually { fixture.server.statistics.dropped == 2 })

            let second = try await ping(fixture.handler(settings: settings))
            #expect(second.connected)
            #expect(second.error == nil)
            #expect(second.currentHostStatus == .disconnected)
            #expect(fixture.pings.count == 3)
        }
    }

    @Test func noTimeForAnyAttemptIsAFailedReplyThatLeavesTheStatusAlone() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            // 50 ms left, minus the reserve, is less than a useful attempt (100 ms).
            let reply = try await ping(fixture.handler(), context: context(deadline: .milliseconds(50)))

            #expect(!reply.success)
            #expect(!reply.connected)
            #expect(reply.error?.isError(.timeout) == true)
            #expect(fixture.pings.isEmpty)
            #expect(try await fixture.storedStatus() == .connected)
        }
    }

    // MARK: Refusals

    @Test func unknownHostIsABadRequest() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            let error = try await #require(throws: BadRequest.self) {
                try await ping(fixture.handler(), host: PingFixture.otherHostUuid)
            }
            #expect(error.error.isError(.invalidArgument))
            #expect(error.error.details == "host[uuid:\(PingFixture.otherHostUuid)] not found in this worker's inventory")
            #expect(error.reason.hasPrefix("unknown-host: "))
            #expect(fixture.pings.isEmpty)
        }
    }

    @Test(arguments: ["", "not-a-uuid", "1F2E3D4C5B6A79881F2E3D4C5B6A7988", "1f2e3d4c-5b6a-7988-1f2e-3d4c5b6a7988"])
    func invalidHostUuidIsABadRequest(hostUuid: String) async throws {
        try await PingFixture.with { fixture in
            let error = try await #require(throws: BadRequest.self) {
                try await ping(fixture.handler(), host: hostUuid)
            }
            #expect(error.error.isError(.invalidArgument))
            #expect(error.reason.hasPrefix("invalid-host-uuid: "))
            #expect(fixture.pings.isEmpty)
        }
    }

    @Test func connectingHostIsAFailedReplyWithoutPinging() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost(status: .connecting)
            let reply = try await ping(fixture.handler())

            #expect(!reply.success)
            #expect(!reply.connected)
            #expect(reply.error?.isError(.operationError) == true)
            #expect(reply.error?.details == "host[uuid:\(PingFixture.hostUuid)] is connecting, ping failed")
            #expect(fixture.pings.isEmpty)
            #expect(try await fixture.storedStatus() == .connecting)
        }
    }

    // MARK: Cancellation

    @Test func cancellationDuringTheAgentCallPropagates() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(.acceptAndNeverCallBack, for: KVMAgentPing.path)
            let handler = fixture.handler(settings: PingSettings(timeout: .seconds(30)))
            let task = Task { try await ping(handler, context: context(deadline: .seconds(60))) }
            #expect(try await eventually { fixture.pings.count == 1 })
            task.cancel()

            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(fixture.pings.count == 1)
            #expect(try await fixture.storedStatus() == .connected)
        }
    }

    @Test func cancellationDuringThePauseBetweenAttemptsPropagates() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(.fail(error: "busy"), for: KVMAgentPing.path)
            let paused = Atomic<Bool>(false)
            let handler = fixture.handler(
                settings: PingSettings(timeout: .seconds(5), sleepAfterFailure: .seconds(30)),
                pauseAfterFailure: { duration in
                    paused.store(true, ordering: .relaxed)
                    try await Task.sleep(for: duration)
                })
            let task = Task { try await ping(handler, context: context(deadline: .seconds(120))) }
            #expect(try await eventually { paused.load(ordering: .relaxed) })
            task.cancel()

            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(fixture.pings.count == 1)
            #expect(try await fixture.storedStatus() == .connected)
        }
    }

    // MARK: The seam for VM sync after a ping

    @Test func successObserverMessagesAreReturnedWithTheReply() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            let observed = Mutex<[String]>([])
            let handler = fixture.handler(onPingSucceeded: { host in
                observed.withLock { $0.append(host.uuid) }
                return [OutboundMessage(target: .service("host.node"), body: Data("sync \(host.uuid)".utf8))]
            })
            let output = try await handler.handle(PingHostMsg(hostUuid: PingFixture.hostUuid), context: context())

            #expect((output.reply as? PingHostReply)?.connected == true)
            #expect(output.messages.map(\.target) == [.service("host.node")])
            #expect(output.messages.first?.body == Data("sync \(PingFixture.hostUuid)".utf8))
            #expect(observed.withLock { $0 } == [PingFixture.hostUuid])
        }
    }

    @Test func successObserverIsNotCalledWhenThePingFails() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost()
            fixture.agent.setBehaviour(.fail(error: "down"), for: KVMAgentPing.path)
            let calls = Atomic<Int>(0)
            let handler = fixture.handler(onPingSucceeded: { _ in
                calls.add(1, ordering: .relaxed)
                return []
            })
            let output = try await handler.handle(PingHostMsg(hostUuid: PingFixture.hostUuid), context: context())

            #expect((output.reply as? PingHostReply)?.connected == false)
            #expect(output.messages.isEmpty)
            #expect(calls.load(ordering: .relaxed) == 0)
        }
    }

    @Test func handlerDeclaresItsKeyAndReply() async throws {
        try await PingFixture.with { fixture in
            let handler = fixture.handler()
            #expect(handler.expectsReply)
            #expect(handler.resourceKey(for: PingHostMsg(hostUuid: PingFixture.hostUuid)) == PingFixture.hostUuid)
        }
    }
}

/// Runs the handler as the worker does: cancelled when the message deadline passes. Returns the reply if the
/// handler produced one first; throws `DeadlineReached` (the worker would have answered SYS.1001 instead) if not.
private func pingAsTheWorkerDoes(_ handler: PingHostHandler, deadline: Duration) async throws -> PingHostReply {
    let context = context(deadline: deadline)
    let end = try #require(context.deadline)
    return try await withThrowingTaskGroup(of: PingHostReply?.self) { group in
        group.addTask { try await ping(handler, context: context) }
        group.addTask {
            try await Task.sleep(until: end, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let reply = first else { throw DeadlineReached() }
        return reply
    }
}

private struct DeadlineReached: Error {}
