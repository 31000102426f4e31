import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import LiveSettings
import Logging
import MetricsTestKit
import Testing

@Suite("VM tracer: one sync round against a fake kvmagent and a SQLite inventory")
struct TracerSyncTests {
    typealias F = TracerFixture

    @Test("scenario 5: DB Running on H1, host reports Paused: one state change Running→Paused")
    func scenario5() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            fixture.report(F.h1, [F.vm(1): "Paused"])
            let sent = try await fixture.sync(F.h1)

            #expect(sent.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(1), hostUuid: F.h1, stateOnHost: "Paused", vmStateAtTracingMoment: "Running",
                fromSync: true)])
            #expect(sent.stateChangeServices == [fixture.membership.serviceID("vmInstance", for: F.vm(1)).rawValue])
            #expect(sent.events.isEmpty)
            let request = try #require(fixture.vmsyncRequests.first)
            #expect(request.headers["x-resource-uuid"] == F.h1)
            #expect(request.taskUUID != nil)
            #expect(await fixture.skips.roundsBegun == 1)
            #expect(await fixture.skips.roundsEnded == 1)
        }
    }

    @Test("scenario 5: a VM in the state the inventory expects gives no message")
    func scenario5Agreement() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1),
                VmRecord(uuid: F.vm(2), state: .paused, hostUuid: F.h1))
            fixture.report(F.h1, [F.vm(1): "Running", F.vm(2): "Paused"])
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges.isEmpty)
            #expect(sent.events.isEmpty)
        }
    }

    @Test("scenario 6: DB Running on H1, host report lacks it: state change Stopped")
    func scenario6() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            fixture.report(F.h1, [:])
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(1), hostUuid: F.h1, stateOnHost: "Stopped", vmStateAtTracingMoment: "Running",
                fromSync: true)])
        }
    }

    @Test("scenario 6: DB Stopped (last host H1) or Created (on H1) and absent: no message")
    func scenario6StoppedOrCreated() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: F.vm(1), state: .stopped, lastHostUuid: F.h1),
                VmRecord(uuid: F.vm(2), state: .created, hostUuid: F.h1))
            #expect(try await fixture.inventory.expectedVms(onHost: F.h1).count == 2)
            fixture.report(F.h1, [:])
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges.isEmpty)
        }
    }

    @Test("scenario 8: Stopped with last host H1 but running on H2: H2's round sends expected=nil")
    func scenario8() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .stopped, lastHostUuid: F.h1))
            fixture.report(F.h2, [F.vm(1): "Running"])
            fixture.report(F.h1, [:])
            let onH2 = try await fixture.sync(F.h2)
            #expect(onH2.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(1), hostUuid: F.h2, stateOnHost: "Running", vmStateAtTracingMoment: nil,
                fromSync: true)])
            #expect(onH2.events.isEmpty)
            let onH1 = try await fixture.sync(F.h1)
            #expect(onH1.stateChanges.isEmpty)
        }
    }

    @Test("scenario 9 (anonymous part): a Destroyed VM running on H1 gives a change with expected=nil")
    func scenario9() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .destroyed, lastHostUuid: F.h1))
            fixture.report(F.h1, [F.vm(1): "Running"])
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(1), hostUuid: F.h1, stateOnHost: "Running", vmStateAtTracingMoment: nil,
                fromSync: true)])
            #expect(sent.events(at: StrangerVmFoundData.path).isEmpty)
        }
    }

    @Test("scenario 13: VM_TRACER_ON=false sends no state change")
    func scenario13TracerOff() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1),
                VmRecord(uuid: F.vm(2), state: .running, hostUuid: F.h1))
            fixture.report(F.h1, [F.vm(1): "Paused", F.vm(3): "Running"])
            try fixture.settings.tracerOn.update(fromText: "false")
            let off = try await fixture.sync(F.h1)
            #expect(off.stateChanges.isEmpty)
            #expect(off.events.isEmpty)
            #expect(fixture.vmsyncRequests.count == 1)

            try fixture.settings.tracerOn.update(fromText: "true")
            let on = try await fixture.sync(F.h1)
            #expect(on.stateChanges.map(\.vmInstanceUuid) == [F.vm(1), F.vm(2)])
            #expect(on.events(at: StrangerVmFoundData.path).count == 1)
        }
    }

    @Test("scenario 14: Suspended (Unknown) skips only that VM; the rest of the round is judged")
    func scenario14() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1),
                VmRecord(uuid: F.vm(2), state: .running, hostUuid: F.h1),
                VmRecord(uuid: F.vm(3), state: .running, hostUuid: F.h1))
            fixture.report(F.h1, [F.vm(1): "Suspended", F.vm(2): "Crashed", F.vm(3): "Hibernating"])
            let sent = try await fixture.sync(F.h1)
            // vm1 (Unknown) and vm3 (a string kvmagent never sends) are neither compared nor read as missing.
            #expect(sent.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(2), hostUuid: F.h1, stateOnHost: "Crashed", vmStateAtTracingMoment: "Running",
                fromSync: true)])
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_states_skipped_total", [("reason", "unknown")]).totalValue == 1)
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_states_skipped_total", [("reason", "unmappable")]).totalValue == 1)
        }
    }

    @Test("scenario 15: Destroying on H1 and absent: expected (SQL precedence), state change Stopped")
    func scenario15() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .destroying, hostUuid: F.h1))
            fixture.report(F.h1, [:])
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges == [VmStateChangedOnHostMsg(
                vmInstanceUuid: F.vm(1), hostUuid: F.h1, stateOnHost: "Stopped", vmStateAtTracingMoment: "Destroying",
                fromSync: true)])
        }
    }

    @Test("scenario 16: Destroying without host, last host H1: not expected on H1, no message")
    func scenario16() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .destroying, lastHostUuid: F.h1))
            fixture.report(F.h1, [:])
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges.isEmpty)
        }
    }

    @Test("a failed /vm/vmsync (agent success=false) gives no verdict, is counted and ends the round")
    func agentFailureGivesNoVerdict() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            fixture.agent.setBehaviour(.fail(error: "libvirt is down"), for: KVMAgentVmSync.path)
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges.isEmpty && sent.events.isEmpty)
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_rounds_total", [("outcome", "failed")]).totalValue == 1)
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_rounds_total", [("outcome", "ok")]).totalValue == 0)
            #expect(await fixture.skips.roundsEnded == 1)
        }
    }

    @Test("a malformed report (states not a map) gives no verdict")
    func malformedReportGivesNoVerdict() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            fixture.agent.setBehaviour(.answer(json: #"{"success":true,"states":["Running"]}"#), for: KVMAgentVmSync.path)
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges.isEmpty)
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_rounds_total", [("outcome", "failed")]).totalValue == 1)
        }
    }

    @Test("an unreachable agent gives no verdict (a missing report never reads as every VM gone)")
    func unreachableAgentGivesNoVerdict() async throws {
        try await F.with { fixture async throws in
            let closed = try await ClosedLoopbackPort.make()
            try await fixture.inventory.upsertHosts([
                HostRecord(uuid: F.h1, managementIp: "127.0.0.1", agentPort: closed.port, status: .connected)])
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            let sent = try await fixture.sync(F.h1)
            #expect(sent.stateChanges.isEmpty)
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_rounds_total", [("outcome", "failed")]).totalValue == 1)
            #expect(await fixture.skips.roundsEnded == 1)
        }
    }

    @Test("a request whose deadline is spent makes no agent call and sends nothing")
    func spentDeadline() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            let output = try await fixture.handler.handle(
                VmSyncOnHostMsg(hostUuid: F.h1), context: context(deadline: .zero))
            #expect(output.messages.isEmpty)
            #expect(fixture.vmsyncRequests.isEmpty)
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_rounds_total", [("outcome", "failed")]).totalValue == 1)
            #expect(await fixture.skips.roundsEnded == 1)
        }
    }

    @Test("VM types the tracer does not support are not expected on the host")
    func excludedTypes() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: F.vm(1), state: .running, lastHostUuid: F.h1, type: .applianceVm),
                VmRecord(uuid: F.vm(2), state: .running, lastHostUuid: F.h1))
            fixture.report(F.h1, [:])
            let handler = VmSyncOnHostHandler(
                hosts: fixture.inventory, caller: fixture.caller, tracer: fixture.tracer, settings: fixture.settings,
                excludedTypes: [.applianceVm], logger: Logger.quiet)
            let output = try await handler.handle(VmSyncOnHostMsg(hostUuid: F.h1), context: context())
            #expect(try SentByRound(output.messages).stateChanges.map(\.vmInstanceUuid) == [F.vm(2)])
        }
    }

    @Test("a host deleted since the ping: no agent call, no verdict")
    func unknownHost() async throws {
        try await F.with { fixture async throws in
            let sent = try await fixture.sync("cccccccccccccccccccccccccccccccc")
            #expect(sent.stateChanges.isEmpty)
            #expect(fixture.vmsyncRequests.isEmpty)
            #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_tracer_rounds_total", [("outcome", "failed")]).totalValue == 1)
        }
    }

    @Test("rounds of one host share the key vmsync:<host>, apart from the host's pings")
    func key() {
        let handler = VmSyncOnHostHandler.key(hostUuid: F.h1)
        #expect(handler == "vmsync:\(F.h1)")
        #expect(handler != F.h1)
    }
}
