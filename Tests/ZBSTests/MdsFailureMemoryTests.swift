import AgentHTTP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import NIOCore
import Primitives
import Testing
import ZBS

/// The failure memory (beyond ZStack): an MDS that just failed is tried last by following calls, within a window.
@Suite("MDS failure memory")
struct MdsFailureMemoryTests {
    @Test func aDeadMdsIsTriedLastByFollowingCallsSoTheyFailOverAtOnce() async throws {
        try await MdsFixture.with(peers: [.silent, .fake, .fake]) { fixture in
            let first = try await fixture.call(
                "/volume/clients", sync: true, tryNext: true, command: ["path": "cbd:pp/lp/v"])
            #expect(first.failedAttempts.map(\.addr) == ["mds-a"])
            for _ in 0..<5 {
                let next = try await fixture.call(
                    "/volume/clients", sync: true, tryNext: true, command: ["path": "cbd:pp/lp/v"])
                #expect(next.failedAttempts.isEmpty, "A is not drawn first again within the window")
                #expect(next.addr == "mds-b")
            }
            #expect(fixture.silent["mds-a"]?.acceptedCount == 1)
            #expect(try await fixture.storage().mds[0].status == .connected, "status is never changed")
        }
    }

    @Test func aRememberedMdsIsStillTriedWhenItIsTheOnlyCandidate() async throws {
        try await MdsFixture.with(peers: [.fake, .fake, .fake], statuses: [.connected, .disconnected, .disconnected]) {
            fixture in
            fixture.memory.recordFailure(fixture.endpoints["mds-a"]!)
            let answer = try await fixture.call("/echo", sync: true)
            #expect(answer.addr == "mds-a", "remembered MDS go last, they are never removed")
            #expect(!fixture.memory.isRemembered(fixture.endpoints["mds-a"]!), "an answer clears the memory")
        }
    }

    @Test func theWindowEndsOnTheInjectedClockAndZeroDisablesTheMemory() async throws {
        let clock = SteppedInstants()
        try await MdsFixture.with(memoryWindow: .seconds(60), now: { clock.now }) { fixture in
            let storage = try await fixture.storage()
            let options = MdsCallOptions(path: "/echo")
            fixture.memory.recordFailure(fixture.endpoints["mds-a"]!)
            #expect(try fixture.caller.candidates(of: storage, options: options).map(\.addr) == ["mds-b", "mds-c", "mds-a"])
            clock.advance(by: .seconds(59))
            #expect(try fixture.caller.candidates(of: storage, options: options).first?.addr == "mds-b")
            clock.advance(by: .seconds(2))
            #expect(try fixture.caller.candidates(of: storage, options: options).map(\.addr) == ["mds-a", "mds-b", "mds-c"])

            fixture.memory.window = .zero
            fixture.memory.recordFailure(fixture.endpoints["mds-a"]!)
            #expect(try fixture.caller.candidates(of: storage, options: options).first?.addr == "mds-a")
        }
    }

    @Test func theOldestFailureComesFirstAmongRememberedMds() {
        let clock = SteppedInstants()
        let memory = MdsFailureMemory(window: .seconds(60), now: { clock.now })
        let a = AgentEndpoint(host: "a", port: 1)
        let b = AgentEndpoint(host: "b", port: 1)
        let c = AgentEndpoint(host: "c", port: 1)
        memory.recordFailure(b)
        clock.advance(by: .seconds(1))
        memory.recordFailure(a)
        #expect(memory.order([a, b, c], endpoint: { $0 }) == [c, b, a])
    }
}

/// The caller's own deadline (the bus message's).
@Suite("MDS call and the message deadline")
struct MdsCallDeadlineTests {
    @Test func noAttemptStartsAfterTheMessageDeadlineAndEarlierFailuresAreKept() async throws {
        try await MdsFixture.with(peers: [.refusing, .fake, .fake]) { fixture in
            let storage = try await fixture.storage()
            let passed = try await MdsFixture.mdsError {
                _ = try await fixture.caller.call(
                    storage, command: [:],
                    options: MdsCallOptions(path: "/volume/query", tryNext: true, deadline: .now - .seconds(1)))
            }
            #expect(passed == .deadlineReached(path: "/zbs/primarystorage/volume/query", attempts: []))
            #expect(passed.errorCode.code == SysError.timeout.code)
            #expect(fixture.totalRequests == 0)

            // A deadline shorter than the attempt budget cuts the attempt: B never answers in time. The deadline
            // leaves A's refusal (loopback, milliseconds) room to happen first even on a loaded machine: at 800 ms it
            // once expired before B's attempt began, with the whole test suite running side by side.
            fixture.b.setBehaviour(.neverAnswer, for: "/volume/query")
            let cut = try await MdsFixture.mdsError {
                _ = try await fixture.caller.call(
                    storage, command: [:],
                    options: MdsCallOptions(
                        path: "/volume/query", tryNext: true, attemptTimeout: .seconds(60),
                        deadline: .now + .seconds(5)))
            }
            #expect(cut.attempts.map(\.addr).prefix(2) == ["mds-a", "mds-b"])
            #expect(fixture.c.receivedRequests.isEmpty, "no attempt after the deadline")
        }
    }
}

/// The per-MDS concurrency cap.
@Suite("MDS slots")
struct MdsSlotsTests {
    @Test func aWaiterGivesUpAtItsDeadlineAndAReleaseHandsTheSlotOver() async throws {
        let slots = MdsSlots(limit: 1, eventLoopGroup: AgentHTTPClient().eventLoopGroup)
        let endpoint = AgentEndpoint(host: "mds", port: 7763)
        #expect(await slots.acquire(endpoint, deadline: .now() + .seconds(5)))
        #expect(await slots.acquire(endpoint, deadline: .now() + .milliseconds(50)) == false)
        #expect(slots.inUse(endpoint) == 1)

        async let waiter = slots.acquire(endpoint, deadline: .now() + .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        slots.release(endpoint)
        #expect(await waiter, "the released slot goes to the waiter")
        #expect(slots.inUse(endpoint) == 1)
        slots.release(endpoint)
        #expect(slots.inUse(endpoint) == 0)
    }

    @Test func aCancelledWaiterLeavesTheQueueWithoutTakingASlot() async throws {
        let slots = MdsSlots(limit: 1, eventLoopGroup: AgentHTTPClient().eventLoopGroup)
        let endpoint = AgentEndpoint(host: "mds", port: 7763)
        #expect(await slots.acquire(endpoint, deadline: .now() + .seconds(5)))
        let waiter = Task { await slots.acquire(endpoint, deadline: .now() + .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value == false)
        slots.release(endpoint)
        #expect(slots.inUse(endpoint) == 0)
    }
}
