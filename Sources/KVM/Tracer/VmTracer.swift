import CloudBus
import Foundation
import Inventory
import KVMMessages
import LiveSettings
import Logging
import MetricHandles
import Metrics

/// The decision half of a VM sync round (ZStack's `syncVm` steps 5–10 and `Tracer.trace()`): given a host's
/// report and what the inventory expected before the agent call, which verdicts and events to send.
///
/// Steps: map agent strings (``AgentVmState``); run the in-shutdown counter; then, when `VM_TRACER_ON`, take
/// snapshot #2 of the skip registry (``VmTraceSkips/skipped(among:since:)`` over every VM reported or expected,
/// union with snapshot #1 taken at `mark`), compare (``VmTraceComparison``), tell anonymous VMs from strangers with
/// the store, ask the orphan hook about each missing VM, and encode everything.
///
/// Choices where the original is unsafe or ambiguous (see docs/design-vm-tracer.md):
/// - a VM reported `Suspended` (Unknown) is skipped alone; ZStack throws and loses the whole host's round;
/// - a state string that is not one of kvmagent's six skips that VM (ZStack's `valueOf` would throw);
/// - the orphan hook guards the missing-VM path only; a host-side mismatch is judged on the skip snapshots alone.
///
/// Thread-safe: the stranger cache and the shutdown counter are shared by the syncs of every host.
public struct VmTracer: Sendable {
    public let vms: any VmStore
    public let skips: any VmTraceSkips
    public let outbox: VmTracerOutbox
    public let tracerOn: LiveSetting<Bool>
    public let strangers: StrangerVmCache
    public let shutdowns: VmShutdownCounter
    /// The tracer's handles (``KVMMetrics``, `vm_tracer_…`), shared with ``VmSyncOnHostHandler`` for rounds.
    let metrics: VmTracerMetrics
    private let logger: Logger

    /// - Parameter metrics: where the tracer's families are created, once, here (every label value up front).
    public init(
        vms: any VmStore, skips: any VmTraceSkips, outbox: VmTracerOutbox, tracerOn: LiveSetting<Bool>,
        strangers: StrangerVmCache = StrangerVmCache(), shutdowns: VmShutdownCounter = VmShutdownCounter(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        logger: Logger = Logger(label: "cloudbus.kvm.tracer")
    ) {
        self.vms = vms
        self.skips = skips
        self.outbox = outbox
        self.tracerOn = tracerOn
        self.strangers = strangers
        self.shutdowns = shutdowns
        self.metrics = VmTracerMetrics(factory: metrics)
        self.logger = logger
    }

    /// Everything one round sends, ready to publish.
    ///
    /// - Parameters:
    ///   - expected: the inventory's expected VMs on the host, read before the agent call.
    ///   - mark: snapshot #1, taken before `expected` was read.
    /// - Throws: ``InventoryError`` when the store cannot tell an anonymous VM from a stranger (nothing is sent).
    public func verdicts(
        hostUuid: String, report: VmSyncReport, expected: [VmRecord], mark: TraceRoundMark
    ) async throws -> [OutboundMessage] {
        var expectedStates: [String: VmState] = [:]
        expectedStates.reserveCapacity(expected.count)
        for vm in expected { expectedStates[vm.uuid] = vm.state }

        // Unknown (Suspended) and unmappable states stay in `reported` (so the VM does not read as missing) and
        // are excluded from the comparison.
        var excluded: Set<String> = []
        var reported: [String: VmState] = [:]
        reported.reserveCapacity(report.states.count)
        for (vmUuid, agentState) in report.states {
            guard let state = AgentVmState.vmState(fromAgent: agentState) else {
                logger.warning("agent reported a VM state it is not known to send; VM skipped this round", metadata: [
                    "host": "\(hostUuid)", "vm": "\(vmUuid)", "agentState": "\(agentState)"])
                metrics.unmappableStates.increment()
                reported[vmUuid] = .unknown
                excluded.insert(vmUuid)
                continue
            }
            if state == .unknown {
                logger.info("agent reported a VM Suspended (Unknown); VM skipped this round", metadata: [
                    "host": "\(hostUuid)", "vm": "\(vmUuid)"])
                metrics.unknownStates.increment()
                excluded.insert(vmUuid)
            }
            reported[vmUuid] = state
        }

        var messages: [OutboundMessage] = []
        for vmUuid in shutdowns.observe(inShutdown: report.vmInShutdowns, reported: reported.keys) {
            messages.append(try outbox.event(VmStateInShutdownData(
                vmUuid: vmUuid,
                reason: "The vm[\(vmUuid)] state is in shutdown for a long time, check whether the vm is normal")))
        }
        guard tracerOn.value else { return messages }

        var candidates: [String] = []
        candidates.reserveCapacity(report.states.count + expected.count)
        candidates.append(contentsOf: report.states.keys)
        for vm in expected where report.states[vm.uuid] == nil { candidates.append(vm.uuid) }
        var skipped = await skips.skipped(among: candidates, since: mark)
        let heldBySkips = Self.judgedIfNotSkipped(
            skipped.subtracting(excluded), reported: reported, expected: expectedStates)
        if heldBySkips > 0 { metrics.suppressedBySkip.increment(by: heldBySkips) }
        skipped.formUnion(excluded)

        let comparison = VmTraceComparison(
            hostUuid: hostUuid, reported: reported, expected: expectedStates, skipped: skipped)
        var changes = comparison.changes
        for vm in comparison.unexpected {
            if try await vms.vm(uuid: vm.vmUuid) != nil {
                changes.append(comparison.anonymousVerdict(vm))
            } else if strangers.shouldAnnounce(vmUuid: vm.vmUuid, onHost: hostUuid) {
                logger.notice("host runs a VM the inventory does not know", metadata: [
                    "host": "\(hostUuid)", "vm": "\(vm.vmUuid)", "state": "\(vm.stateOnHost.rawValue)"])
                metrics.strangers.increment()
                messages.append(try outbox.event(StrangerVmFoundData(
                    vmIdentity: vm.vmUuid, hostUuid: hostUuid, vmState: vm.stateOnHost.rawValue)))
            }
        }
        var missing: [VmTraceComparison.Missing] = []
        for vm in comparison.missing {
            if await skips.isOrphanSkipped(vm.vmUuid) {
                logger.info("missing VM left alone: its operation's node left and the orphan TTL runs", metadata: [
                    "host": "\(hostUuid)", "vm": "\(vm.vmUuid)", "expected": "\(vm.expected.rawValue)"])
                metrics.suppressedByOrphan.increment()
                continue
            }
            missing.append(vm)
        }
        let protected = missing.isEmpty ? [] : await skips.protectedFleetWide(missing.map(\.vmUuid))
        for vm in missing {
            if protected.contains(vm.vmUuid) {
                logger.info("missing VM left alone: the fleet's shared skip rows protect it", metadata: [
                    "host": "\(hostUuid)", "vm": "\(vm.vmUuid)", "expected": "\(vm.expected.rawValue)"])
                metrics.suppressedBySharedSkip.increment()
                continue
            }
            changes.append(comparison.missingVerdict(vm))
        }
        for change in changes {
            logger.info("VM state differs on host", metadata: [
                "host": "\(hostUuid)", "vm": "\(change.vmInstanceUuid)", "onHost": "\(change.stateOnHost)",
                "expected": "\(change.vmStateAtTracingMoment ?? "nil")"])
            messages.append(try outbox.stateChange(change))
            metrics.verdict(stateOnHost: change.stateOnHost)
        }
        return messages
    }

    /// How many of `skipped` the comparison would have judged without the skip snapshots: a reported state that
    /// differs from the expected one, a VM the host runs unexpectedly, or an expected VM the host does not report
    /// (the same rules as ``VmTraceComparison``). Costs a few probes per skipped VM, not per VM of the host.
    static func judgedIfNotSkipped(
        _ skipped: Set<String>, reported: [String: VmState], expected: [String: VmState]
    ) -> Int {
        var judged = 0
        for vmUuid in skipped {
            switch (reported[vmUuid], expected[vmUuid]) {
            case let (actual?, expectedState?) where actual != expectedState: judged += 1
            case (_?, nil): judged += 1
            case let (nil, expectedState?) where !VmTraceComparison.notMissingWhenAbsent.contains(expectedState):
                judged += 1
            default: break
            }
        }
        return judged
    }
}

/// The tracer's handles, made once per tracer with every label value up front: counting a verdict is a dictionary
/// probe on a code-bounded enum, never label rendering.
struct VmTracerMetrics: Sendable {
    let roundsOK: Counter
    let roundsFailed: Counter
    let verdicts: [VmState: Counter]
    let suppressedBySkip: Counter
    let suppressedByOrphan: Counter
    let suppressedBySharedSkip: Counter
    let strangers: Counter
    let unknownStates: Counter
    let unmappableStates: Counter

    init(factory: any MetricsFactory) {
        let rounds = KVMMetrics.tracerRounds
        roundsOK = rounds.counter(KVMMetrics.RoundOutcome.ok.rawValue, factory: factory)
        roundsFailed = rounds.counter(KVMMetrics.RoundOutcome.failed.rawValue, factory: factory)
        verdicts = Dictionary(uniqueKeysWithValues: VmState.allCases.map {
            ($0, KVMMetrics.tracerVerdicts.counter($0.rawValue, factory: factory))
        })
        let suppressed = KVMMetrics.tracerVerdictsSuppressed
        suppressedBySkip = suppressed.counter(KVMMetrics.SuppressionGuard.skip.rawValue, factory: factory)
        suppressedByOrphan = suppressed.counter(KVMMetrics.SuppressionGuard.orphan.rawValue, factory: factory)
        suppressedBySharedSkip = suppressed.counter(KVMMetrics.SuppressionGuard.sharedSkip.rawValue, factory: factory)
        strangers = KVMMetrics.tracerStrangers.counter(factory: factory)
        let skippedStates = KVMMetrics.tracerStatesSkipped
        unknownStates = skippedStates.counter(KVMMetrics.StateSkipReason.unknown.rawValue, factory: factory)
        unmappableStates = skippedStates.counter(KVMMetrics.StateSkipReason.unmappable.rawValue, factory: factory)
    }

    /// Counts one verdict under the state the host showed. Verdicts carry a `VmState`'s raw value (the comparison
    /// builds them), so the lookup always hits; anything else would not be counted rather than make a series.
    func verdict(stateOnHost: String) {
        guard let state = VmState(rawValue: stateOnHost) else { return }
        verdicts[state]?.increment()
    }
}
