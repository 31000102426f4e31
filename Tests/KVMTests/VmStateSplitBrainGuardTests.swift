import CloudBus
import CloudBusTesting
import Inventory
import KVM
import KVMMessages
import Logging
import MetricsTestKit
import Testing

/// Scenario 39's residual race and issue 3 item 6: a Stopped verdict for a VM whose orphan skip just expired is
/// confirmed across the cluster before it is believed.
///
/// Setup of scenario 39: V was Stopped with lastHost H1; node X ran StartVm (V now Starting, no host) and the
/// agent started V on H2; X died before replying and the orphan TTL on the surviving node has just expired. H1's
/// sync reports V missing (Stopped, expected Starting); H2's sync reports V Running (anonymous: expected nil).
@Suite("VM state split-brain guard")
struct VmStateSplitBrainGuardTests {
    typealias F = VmStateFixture

    static func scenario39() async throws -> F {
        let fixture = try F()
        try await fixture.store(.starting, lastHost: F.h1)
        fixture.skips.markExpiredRecently(F.vm)
        return fixture
    }

    static func noStoppedVerdict(in outputs: [HandlerOutput]) throws -> Bool {
        let emitted = try outputs.map(Emitted.init)
        return emitted.allSatisfy { e in
            !e.tracerEvents.contains { $0.to == "Stopped" } && !e.fullStateEvents.contains { $0.newState == "Stopped" }
        }
    }

    @Test("scenario 39, Stopped report first: not applied; V becomes Running on H2 at once, H2's report then changes nothing")
    func stoppedReportFirst() async throws {
        let fixture = try await Self.scenario39()
        fixture.probe.answer(.success([F.h2]))

        let stoppedFromH1 = try await fixture.report("Stopped", by: F.h1, expected: "Starting")
        #expect(try stoppedFromH1.stcReply.success)
        #expect(fixture.probe.calls == [.init(vmUuid: F.vm, clusterUuid: F.cluster, excluding: F.h1)])
        #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_state_stopped_verdicts_suppressed_total").totalValue == 1)
        var stored = try #require(try await fixture.stored())
        #expect(stored.state == .running && stored.hostUuid == F.h2 && stored.lastHostUuid == F.h1)
        let emitted = try Emitted(stoppedFromH1)
        #expect(emitted.tracerEvents == [VmTracerStateChangedData(
            vmUuid: F.vm, from: "Starting", to: "Running", originalHostUuid: nil, currentHostUuid: F.h2)])
        #expect(emitted.fullStateEvents.map(\.newState) == ["Running"])
        #expect(emitted.deviceInfoSyncs.map(\.message) == [SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: F.h2)])

        let runningFromH2 = try await fixture.report("Running", by: F.h2, expected: nil)
        #expect(try runningFromH2.stcReply.success)
        #expect(runningFromH2.messages.isEmpty)
        stored = try #require(try await fixture.stored())
        #expect(stored.state == .running && stored.hostUuid == F.h2)
        #expect(try Self.noStoppedVerdict(in: [stoppedFromH1, runningFromH2]))
    }

    @Test("scenario 39, Running report first: V Running on H2; H1's Stopped report is stale and never probed")
    func runningReportFirst() async throws {
        let fixture = try await Self.scenario39()
        fixture.probe.answer(.success([]))  // would confirm Stopped if it were asked

        let runningFromH2 = try await fixture.report("Running", by: F.h2, expected: nil)
        #expect(try runningFromH2.stcReply.success)
        let stoppedFromH1 = try await fixture.report("Stopped", by: F.h1, expected: "Starting")
        #expect(try stoppedFromH1.stcReply.success)
        #expect(stoppedFromH1.messages.isEmpty)
        #expect(fixture.probe.calls.isEmpty)
        #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_state_stopped_verdicts_suppressed_total").totalValue == 0)
        let stored = try #require(try await fixture.stored())
        #expect(stored.state == .running && stored.hostUuid == F.h2)
        #expect(try Self.noStoppedVerdict(in: [runningFromH2, stoppedFromH1]))
    }

    @Test("scenario 39 variant: the start failed, nobody runs V: the Stopped verdict is applied after the probe")
    func startFailed() async throws {
        let fixture = try await Self.scenario39()
        fixture.probe.answer(.success([]))
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Starting")
        #expect(try output.stcReply.success)
        #expect(fixture.probe.calls.count == 1)
        let stored = try #require(try await fixture.stored())
        #expect(stored.state == .stopped && stored.hostUuid == nil && stored.lastHostUuid == F.h1)
        #expect(try Emitted(output).fullStateEvents.map(\.newState) == ["Stopped"])
        #expect(fixture.metrics.counters.allSatisfy { $0.totalValue == 0 })
    }

    @Test("probe failure: no Stopped verdict, an error reply, counted; the next sync decides")
    func probeFails() async throws {
        let fixture = try await Self.scenario39()
        fixture.probe.answer(.failure(ProbeFailure()))
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Starting")
        let reply = try output.stcReply
        #expect(!reply.success)
        #expect(reply.error?.details?.contains("did not answer /vm/vmsync") == true)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored()?.state == .starting)
        #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_state_presence_probe_failures_total").totalValue == 1)

        // The next sync's report, with the probe answering, is decided normally.
        fixture.probe.answer(.success([]))
        #expect(try await fixture.report("Stopped", by: F.h1, expected: "Starting").stcReply.success)
        #expect(try await fixture.stored()?.state == .stopped)
    }

    @Test("V running on several other hosts: nothing changes, error reply naming them")
    func severalHosts() async throws {
        let fixture = try await Self.scenario39()
        fixture.probe.answer(.success([F.h3, F.h2]))
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Starting")
        let reply = try output.stcReply
        #expect(!reply.success)
        #expect(reply.error?.details?.contains(F.h2) == true && reply.error?.details?.contains(F.h3) == true)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored()?.state == .starting)
        #expect(try fixture.metrics.expectCounter("cloudbus_worker_vm_state_stopped_verdicts_suppressed_total").totalValue == 1)
    }

    @Test("a VM whose orphan skip did not just expire is not probed")
    func notRecentlyExpired() async throws {
        let fixture = try F()
        try await fixture.store(.starting, lastHost: F.h1)
        fixture.probe.answer(.success([F.h2]))
        #expect(try await fixture.report("Stopped", by: F.h1, expected: "Starting").stcReply.success)
        #expect(fixture.probe.calls.isEmpty)
        #expect(try await fixture.stored()?.state == .stopped)
    }

    @Test("the probe is asked for the VM's cluster, or nil when the inventory records none")
    func clusterOfTheProbe() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1, cluster: nil)
        fixture.skips.markExpiredRecently(F.vm)
        fixture.probe.answer(.success([]))
        #expect(try await fixture.report("Stopped", by: F.h1, expected: "Running").stcReply.success)
        #expect(fixture.probe.calls == [.init(vmUuid: F.vm, clusterUuid: nil, excluding: F.h1)])
    }
}

extension VmStateSplitBrainGuardTests {
    /// A probe that is cancelled (the worker cancels a handler at its deadline) decides nothing and is not a
    /// probe failure.
    struct CancelledProbe: VmPresenceProbe {
        func hostsRunning(vmUuid: String, clusterUuid: String?, excluding hostUuid: String) async throws -> [String] {
            throw CancellationError()
        }
    }

    @Test("a cancelled probe propagates cancellation; nothing is written or counted")
    func cancelledProbe() async throws {
        let fixture = try await Self.scenario39()
        let handler = VmStateChangedOnHostHandler(
            vms: fixture.inventory, membership: fixture.membership, skips: fixture.skips, probe: CancelledProbe(),
            metrics: fixture.metrics, logger: Logger.quiet)
        await #expect(throws: CancellationError.self) {
            try await handler.handle(
                VmStateChangedOnHostMsg(
                    vmInstanceUuid: F.vm, hostUuid: F.h1, stateOnHost: "Stopped", vmStateAtTracingMoment: "Starting",
                    fromSync: true),
                context: F.context())
        }
        #expect(try await fixture.stored()?.state == .starting)
        #expect(fixture.metrics.counters.allSatisfy { $0.totalValue == 0 })
    }
}
