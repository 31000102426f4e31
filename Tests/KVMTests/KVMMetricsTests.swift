import CloudBus
import CloudBusTesting
import Inventory
import KVM
import KVMMessages
import Logging
import Metrics
import MetricsTestKit
import Primitives
import Testing

/// The KVM families as exported: the catalogue covers what the code creates, labels come from the code's enums,
/// and the gauges follow the registry.
@Suite("KVM metrics")
struct KVMMetricsTests {
    @Test("the catalogue covers every family the KVM types create, with the same kind and label names")
    func catalogueCoversWhatIsCreated() async throws {
        try await TracerFixture.with { fixture async throws in
            let metrics = TestMetrics()
            let registry = SkipRegistry(
                ownNode: SkipFixture.own, timeout: SkipFixture.timeout(), clock: ManualClock(), metrics: metrics,
                logger: Logger.quiet)
            let tracer = VmTracer(
                vms: fixture.inventory, skips: registry, outbox: VmTracerOutbox(membership: fixture.membership),
                tracerOn: fixture.settings.tracerOn, metrics: metrics, logger: Logger.quiet)
            _ = VmSyncOnHostHandler(
                hosts: fixture.inventory, caller: fixture.caller, tracer: tracer, settings: fixture.settings,
                logger: Logger.quiet)
            _ = VmStateChangedOnHostHandler(
                vms: fixture.inventory, membership: fixture.membership, skips: registry,
                probe: ScriptedPresenceProbe(), metrics: metrics, logger: Logger.quiet)
            _ = SyncVmDeviceInfoHandler(
                inventory: fixture.inventory, caller: fixture.caller, metrics: metrics, logger: Logger.quiet)
            await registry.recordSkip(SkipFixture.skip(SkipFixture.vm(1), from: SkipFixture.nodeX))

            #expect(catalogueGaps(metrics, KVMMetrics.catalog).isEmpty, "\(catalogueGaps(metrics, KVMMetrics.catalog))")
            // Every family is created up front (zero series exist before the first event), so the reverse holds.
            let created = Set(metrics.createdFamilies.map(\.name))
            #expect(Set(KVMMetrics.catalog.map(\.name)) == created)
            // A label value set bounded by the code: one verdict series per VM state, no more.
            #expect(metrics.counters(label: "cloudbus_worker_vm_tracer_verdicts_total").count == VmState.allCases.count)
        }
    }

    @Test("a tracer verdict is counted under the new state; an ok round under outcome ok")
    func verdictByState() async throws {
        try await TracerFixture.with { fixture async throws in
            try await fixture.store(
                VmRecord(uuid: TracerFixture.vm(1), state: .running, hostUuid: TracerFixture.h1),
                VmRecord(uuid: TracerFixture.vm(2), state: .running, hostUuid: TracerFixture.h1),
                VmRecord(uuid: TracerFixture.vm(3), state: .running, hostUuid: TracerFixture.h1))
            fixture.report(TracerFixture.h1, [TracerFixture.vm(2): "Paused"])
            await fixture.skips.skip(TracerFixture.vm(3))
            let sent = try await fixture.sync(TracerFixture.h1)
            #expect(Set(sent.stateChanges.map(\.stateOnHost)) == ["Stopped", "Paused"])

            let verdicts = "cloudbus_worker_vm_tracer_verdicts_total"
            #expect(try fixture.metrics.expectCounter(verdicts, [("state", "Stopped")]).totalValue == 1)
            #expect(try fixture.metrics.expectCounter(verdicts, [("state", "Paused")]).totalValue == 1)
            #expect(try fixture.metrics.expectCounter(verdicts, [("state", "Running")]).totalValue == 0)
            #expect(try fixture.metrics.expectCounter(
                "cloudbus_worker_vm_tracer_rounds_total", [("outcome", "ok")]).totalValue == 1)
            // vm3 is missing too, but an operation in flight owns it: held back by the skip guard.
            #expect(try fixture.metrics.expectCounter(
                "cloudbus_worker_vm_tracer_verdicts_suppressed_total", [("guard", "skip")]).totalValue == 1)
        }
    }

    @Test("the registry's gauges follow live skips and orphans; an expiry is counted")
    func registryGauges() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let registry = SkipFixture.registry(clock: clock, metrics: metrics)
        let skips = try metrics.expectGauge("cloudbus_worker_skip_registry_skips")
        let orphans = try metrics.expectGauge("cloudbus_worker_skip_registry_orphans")
        #expect(skips.lastValue == 0 && orphans.lastValue == 0)

        await registry.recordSkip(SkipFixture.skip(SkipFixture.vm(1), from: SkipFixture.nodeX))
        await registry.recordSkip(SkipFixture.skip(SkipFixture.vm(2), from: SkipFixture.nodeX))
        #expect(skips.lastValue == 2 && orphans.lastValue == 0)

        await registry.nodeLeft(SkipFixture.nodeX)
        #expect(skips.lastValue == 0 && orphans.lastValue == 2)

        clock.advance(by: .seconds(600))
        #expect(await !registry.isOrphanSkipped(SkipFixture.vm(1)))
        #expect(orphans.lastValue == 1)
        #expect(try metrics.expectCounter("cloudbus_worker_skip_registry_orphans_expired_total").totalValue == 1)
    }
}
