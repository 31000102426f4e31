import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import MetricsTestKit
import Testing

/// The two skip snapshots and the orphan hook, with the agent's answer held so the test decides what happens
/// between "command sent" and "reply received".
@Suite("VM tracer: skip snapshots and orphans")
struct TracerSkipTests {
    typealias F = TracerFixture

    /// Starts a round whose `/vm/vmsync` answer is held, runs `whileWaiting` once the agent has the request,
    /// then releases the answer and returns what the round sent.
    func roundWithHeldAnswer(
        _ fixture: F, host: String = F.h1, whileWaiting: () async throws -> Void
    ) async throws -> SentByRound {
        fixture.agent.setBehaviour(.holdCallback(), for: KVMAgentVmSync.path)
        let handler = fixture.handler
        let round = Task {
            try await handler.handle(VmSyncOnHostMsg(hostUuid: host), context: context())
        }
        let agent = fixture.agent
        #expect(try await eventually { agent.heldCallbackCount == 1 })
        try await whileWaiting()
        #expect(agent.releaseHeldCallbacks() == 1)
        return try SentByRound(try await round.value.messages)
    }

    @Test("scenario 22: an operation running when the command is sent and ending before the reply: skipped")
    func scenario22() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .starting, hostUuid: F.h1))
            fixture.report(F.h1, [:])
            await fixture.skips.skip(F.vm(1))
            let sent = try await roundWithHeldAnswer(fixture) {
                await fixture.skips.resume(F.vm(1))
            }
            #expect(sent.stateChanges.isEmpty)
        }
    }

    @Test("scenario 23: an operation starting after the command was sent, before the reply: skipped")
    func scenario23() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            fixture.report(F.h1, [F.vm(1): "Paused"])
            let sent = try await roundWithHeldAnswer(fixture) {
                await fixture.skips.skip(F.vm(1))
            }
            #expect(sent.stateChanges.isEmpty)
        }
    }

    @Test("scenario 24: an operation entirely inside the command window: the change carries the old expected state")
    func scenario24() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .paused, hostUuid: F.h1))
            // The host state is captured before the operation (a resume) runs and completes inside the window.
            fixture.report(F.h1, [F.vm(1): "Running"])
            let second = try await roundWithHeldAnswer(fixture) {
                await fixture.skips.skip(F.vm(1))
                try await fixture.inventory.updateVmState(uuid: F.vm(1), to: .running)
                await fixture.skips.resume(F.vm(1))
            }
            // In neither snapshot: the change is sent with the state read before the call (Paused); the inventory
            // now says Running, so the VM handler's staleness check drops it.
            #expect(try await fixture.inventory.vm(uuid: F.vm(1))?.state == .running)
            #expect(second.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(1), hostUuid: F.h1, stateOnHost: "Running", vmStateAtTracingMoment: "Paused",
                fromSync: true)])
        }
    }

    @Test("scenario 27: orphaned within the TTL, Starting and absent on its last host: no state change")
    func scenario27() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: F.vm(1), state: .starting, lastHostUuid: F.h1),
                VmRecord(uuid: F.vm(2), state: .running, hostUuid: F.h1))
            await fixture.skips.orphan(F.vm(1), at: .seconds(1_000))
            await fixture.skips.orphan(F.vm(2), at: .seconds(1_000))
            await fixture.skips.set(now: .seconds(1_600) - .milliseconds(1))
            fixture.report(F.h1, [F.vm(2): "Paused"])  // a host-side mismatch of an orphan is suppressed too
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges.isEmpty)
        }
    }

    @Test("scenario 28: orphan TTL expired: state change Stopped and the orphan entry is removed")
    func scenario28() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .starting, lastHostUuid: F.h1))
            await fixture.skips.orphan(F.vm(1), at: .seconds(1_000))
            await fixture.skips.set(now: .seconds(1_600) + .milliseconds(1))
            fixture.report(F.h1, [:])
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(1), hostUuid: F.h1, stateOnHost: "Stopped", vmStateAtTracingMoment: "Starting",
                fromSync: true)])
            #expect(await fixture.skips.orphanQuestions == [F.vm(1)])
            #expect(await fixture.skips.orphans[F.vm(1)] == nil)
        }
    }

    @Test("scenario 40: the hook as the only guard suppresses the missing-VM change; host-side mismatches still go")
    func scenario40() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: F.vm(1), state: .starting, hostUuid: F.h1),
                VmRecord(uuid: F.vm(2), state: .running, hostUuid: F.h1))
            await fixture.skips.setOrphansInSnapshots(false)
            await fixture.skips.orphan(F.vm(1), at: .seconds(1_000))
            await fixture.skips.orphan(F.vm(2), at: .seconds(1_000))
            fixture.report(F.h1, [F.vm(2): "Paused"])
            let sent = try await fixture.sync(F.h1)
            // Pinned design: the hook guards the missing path only (as the PR's shouldSkipMissingVmHandling).
            #expect(sent.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(2), hostUuid: F.h1, stateOnHost: "Paused", vmStateAtTracingMoment: "Running",
                fromSync: true)])
            #expect(await fixture.skips.orphanQuestions == [F.vm(1)])
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_verdicts_suppressed_total", [("guard", "orphan")]).totalValue == 1)
        }
    }
}
