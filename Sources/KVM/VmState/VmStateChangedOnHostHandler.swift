import CloudBus
import Inventory
import KVMMessages
import Logging
import MetricHandles
import Metrics

/// Answers `VmStateChangedOnHostMsg` the way ZStack's `VmInstanceBase.vmStateChangeOnHost` does: a host (through
/// the tracer or the agent's push) says a VM is in a state the inventory does not expect, and the VM's owner
/// decides what is true.
///
/// Pre-checks, in ZStack's order:
/// 1. VM not in the inventory: error reply "the vm has been deleted".
/// 2. `vmStateAtTracingMoment` set and different from the stored state: success, ignored (the report predates an
///    operation that ran since; nil turns the check off).
/// 3. Stored state and host equal to the report: success, nothing to do.
/// 4. Stored Stopped, reported Unknown: success, ignored.
/// 5. Reported Unknown: event `unknown` (refused where the table has no edge).
///
/// Then the first matching ``VmAbnormalLifeCycleOperation`` decides (see its ``VmAbnormalLifeCycleAction``); no
/// match is an error reply "unknown VM abnormal state combination", never a crash. Every state change goes through
/// ``VmStateTransition`` (state machine inside the store's transaction) and is announced with
/// `/vmTracer/vmStateChanged` and, when the state changed, `/vm/state/change`; a verdict that changes nothing
/// announces nothing. A VM that becomes Running from Starting, Rebooting, Resuming or Created also gets a
/// `SyncVmDeviceInfoMsg` to its host's owner.
///
/// This worker runs no `VmAbnormalLifeCycleExtensionPoint` chain (host capacity, DHCP and EIP belong to the Java
/// management nodes). HA, the consumer that matters for split-brain, listens to `/vmTracer/vmStateChanged`, so that
/// event stands for ZStack's abnormal-lifecycle hook: it is emitted for every verdict that changed the VM, in the
/// same outputs as the reply, confirmed by the broker before the message is acked.
///
/// **Split-brain guard** (PR #3330's residual race). When the orphan TTL of a VM has just expired
/// (``VmTraceSkips/orphanExpiredRecently(_:)``), a tracer Stopped verdict for it may come from the old host while
/// the start that the dead node ran has put the VM on another host whose report is still on its way. Before
/// applying such a verdict the handler asks ``VmPresenceProbe`` whether another host of the cluster runs the VM:
/// - nobody does: the Stopped verdict is applied as usual;
/// - exactly one host H2 does: the Stopped verdict is dropped (counted in
///   ``KVMMetrics/stoppedVerdictsSuppressed``) and the handler applies "Running on H2" instead, as if H2's report
///   had arrived first, so both arrival orders end with the VM Running on H2 and no Stopped verdict (H2's own
///   report is then equal to the inventory, or stale);
/// - several hosts do: nothing is changed, error reply naming them (a real split-brain for an operator);
/// - the probe fails: nothing is changed, error reply (counted in ``KVMMetrics/presenceProbeFailures``); the next
///   sync asks again.
///
/// Idempotent under redelivery: a verdict already applied is either equal to the inventory (pre-check 3) or stale
/// (pre-check 2). Messages of one VM run one at a time on the key ``resourceKey(for:)`` (the VM uuid), the same key
/// as ``VmFullStateChangeSubscriber``'s.
public struct VmStateChangedOnHostHandler: BusHandler {
    public typealias Message = VmStateChangedOnHostMsg

    public let transition: VmStateTransition
    public let skips: any VmTraceSkips
    public let probe: any VmPresenceProbe
    /// Stopped verdicts not applied because another host runs the VM (one host or several).
    private let suppressedStoppedVerdicts: Counter
    /// Stopped verdicts left undecided because the presence probe failed.
    private let presenceProbeFailures: Counter
    private let logger: Logger

    /// - Parameters:
    ///   - vms: the inventory read and written.
    ///   - membership: who owns hosts (for `DestroyVmOnHypervisorMsg` and `SyncVmDeviceInfoMsg`) and this node's id
    ///     (`managementNodeId` of the events).
    ///   - skips: the skip registry; only ``VmTraceSkips/orphanExpiredRecently(_:)`` is asked.
    ///   - probe: the split-brain guard's cross-check.
    ///   - metrics: where the guard's families (``KVMMetrics``, `vm_state_…`) are created, once, here.
    public init(
        vms: any VmStore,
        membership: ClusterMembership,
        skips: any VmTraceSkips,
        probe: any VmPresenceProbe,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        logger: Logger = Logger(label: "cloudbus.kvm.vm-state")
    ) {
        self.transition = VmStateTransition(vms: vms, membership: membership)
        self.skips = skips
        self.probe = probe
        self.suppressedStoppedVerdicts = KVMMetrics.stoppedVerdictsSuppressed.counter(factory: metrics)
        self.presenceProbeFailures = KVMMetrics.presenceProbeFailures.counter(factory: metrics)
        self.logger = logger
    }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: VmStateChangedOnHostMsg) -> String { message.vmInstanceUuid }
    public func ownedResource(for message: VmStateChangedOnHostMsg) -> String? { message.vmInstanceUuid }

    public func handle(_ message: VmStateChangedOnHostMsg, context: HandlerContext) async throws -> HandlerOutput {
        let reported = try Self.state(message.stateOnHost, field: "stateOnHost", of: message)
        let expected = try message.vmStateAtTracingMoment.map {
            try Self.state($0, field: "vmStateAtTracingMoment", of: message)
        }
        var logger = logger
        logger[metadataKey: "vm"] = "\(message.vmInstanceUuid)"
        logger[metadataKey: "host"] = "\(message.hostUuid)"
        logger[metadataKey: "msg.id"] = "\(context.base.id)"

        guard let vm = try await transition.vms.vm(uuid: message.vmInstanceUuid) else {
            return Self.failure(SysError.operationError.error("the vm has been deleted"))
        }
        if let expected, expected != vm.state {
            logger.debug("stale host report ignored", metadata: [
                "expected": "\(expected.rawValue)", "stored": "\(vm.state.rawValue)",
            ])
            return Self.success
        }
        var verdict = HostVerdict(hostUuid: message.hostUuid, state: reported)
        if message.fromSync, reported == .stopped, !Self.isIgnored(verdict, for: vm),
            await skips.orphanExpiredRecently(vm.uuid)
        {
            switch try await confirmStopped(vm, reportedBy: message.hostUuid, logger: logger) {
            case .confirmed: break
            case .runningOn(let hostUuid): verdict = HostVerdict(hostUuid: hostUuid, state: .running)
            case .refused(let error): return Self.failure(error)
            }
        }
        return try await apply(verdict, to: vm, logger: logger)
    }

    // MARK: - Deciding

    /// A host's claim about the VM.
    struct HostVerdict: Sendable, Hashable {
        var hostUuid: String
        var state: VmState
    }

    /// Pre-checks 3 and 4: the verdict needs no action.
    static func isIgnored(_ verdict: HostVerdict, for vm: VmRecord) -> Bool {
        (vm.state == verdict.state && vm.hostUuid == verdict.hostUuid)
            || (vm.state == .stopped && verdict.state == .unknown)
    }

    private func apply(_ verdict: HostVerdict, to vm: VmRecord, logger: Logger) async throws -> HandlerOutput {
        if Self.isIgnored(verdict, for: vm) { return Self.success }
        if verdict.state == .unknown {
            return try await change(vm, .unknown, host: .keep, verdict: verdict, logger: logger)
        }
        let facts = VmAbnormalLifeCycleStruct(vm, reportedState: verdict.state, by: verdict.hostUuid)
        guard let operation = VmAbnormalLifeCycleOperation.first(matching: facts) else {
            logger.warning("unknown VM abnormal state combination", metadata: [
                "stored": "\(vm.state.rawValue)", "reported": "\(verdict.state.rawValue)",
                "storedHost": "\(vm.hostUuid ?? "-")", "reportingHost": "\(verdict.hostUuid)",
            ])
            return Self.failure(SysError.operationError.error(
                "unknown VM abnormal state combination[vm uuid:\(vm.uuid), original state:\(vm.state.rawValue), "
                    + "current state:\(verdict.state.rawValue), original host:\(vm.hostUuid ?? "null"), "
                    + "current host:\(verdict.hostUuid), last host:\(vm.lastHostUuid ?? "null")]"))
        }
        var logger = logger
        logger[metadataKey: "operation"] = "\(operation.rawValue)"
        switch operation.action {
        case .updateInventory(let event, let movesToReportingHost):
            return try await change(
                vm, event, host: movesToReportingHost ? .move(to: verdict.hostUuid) : .keep, verdict: verdict,
                logger: logger)
        case .destroyOnHypervisor:
            logger.notice("host runs a destroyed VM; asking it to destroy the VM")
            let destroy = try OutboundMessage.oneWay(
                DestroyVmOnHypervisorMsg(vmInstanceUuid: vm.uuid, hostUuid: verdict.hostUuid),
                to: transition.membership.serviceID(ServiceID.hostService, for: verdict.hostUuid))
            return HandlerOutput(reply: VmStateChangedOnHostReply(), messages: [destroy])
        case .abnormalLifeCycle:
            switch verdict.state {
            case .running:
                return try await change(vm, .running, host: .move(to: verdict.hostUuid), verdict: verdict, logger: logger)
            case .paused:
                return try await change(vm, .paused, host: .move(to: verdict.hostUuid), verdict: verdict, logger: logger)
            case .stopped:
                return try await change(vm, .stopped, host: .keep, verdict: verdict, logger: logger)
            default:
                // NoState: ZStack leaves the inventory alone after the abnormal-lifecycle chain.
                logger.info("host reports the VM in NoState; inventory unchanged")
                return Self.success
            }
        }
    }

    /// Applies `event` and builds the outputs — the tracer event, the full-state event, the device-info sync — in
    /// the same transaction, through the outbox: a redelivery after a lost confirm, or a restart after a crash,
    /// still sends them although the state is already applied.
    private func change(
        _ vm: VmRecord, _ event: VmStateEvent, host: VmHostChange, verdict: HostVerdict, logger: Logger
    ) async throws -> HandlerOutput {
        let update: VmUpdate
        let messages: [OutboundMessage]
        do {
            let transition = transition
            (update, messages) = try await transition.apply(
                event, to: vm.uuid, host: host, outboxKey: vm.uuid,
                announcing: { update in
                    [
                        try transition.tracerStateChangedEvent(update, reportingHost: verdict.hostUuid),
                        try transition.fullStateChangedEvent(update),
                        try transition.deviceInfoSync(update),
                    ].compactMap { $0 }
                })
        } catch let refused as VmTransitionError {
            logger.warning("state change refused by the state machine", metadata: ["error": "\(refused)"])
            return Self.failure(refused.errorCode)
        } catch InventoryError.notFound {
            return Self.failure(SysError.operationError.error("the vm has been deleted"))
        }
        if !messages.isEmpty {
            logger.info("VM state changed from the host's report", metadata: [
                "from": "\(update.before.state.rawValue)", "to": "\(update.after.state.rawValue)",
                "fromHost": "\(update.before.hostUuid ?? "-")", "toHost": "\(update.after.hostUuid ?? "-")",
            ])
        }
        return HandlerOutput(reply: VmStateChangedOnHostReply(), messages: messages)
    }

    // MARK: - Split-brain guard

    enum StoppedConfirmation: Sendable, Hashable {
        case confirmed
        case runningOn(String)
        case refused(ErrorCode)
    }

    /// - Throws: `CancellationError` only (the worker cancels a handler at its deadline; nothing is decided then).
    private func confirmStopped(
        _ vm: VmRecord, reportedBy hostUuid: String, logger: Logger
    ) async throws -> StoppedConfirmation {
        let hosts: [String]
        do {
            hosts = try await probe.hostsRunning(vmUuid: vm.uuid, clusterUuid: vm.clusterUuid, excluding: hostUuid)
                .filter { $0 != hostUuid }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            presenceProbeFailures.increment()
            logger.warning("cannot confirm a Stopped verdict across the cluster; leaving the VM as it is", metadata: [
                "error": "\(error)",
            ])
            return .refused(SysError.operationError.error(
                "cannot confirm that vm[uuid:\(vm.uuid)] is stopped: its orphan skip expired recently and asking "
                    + "the hosts of cluster[uuid:\(vm.clusterUuid ?? "of host \(hostUuid)")] failed: \(error)"))
        }
        let running = Array(Set(hosts)).sorted()
        switch running.count {
        case 0:
            return .confirmed
        case 1:
            suppressedStoppedVerdicts.increment()
            logger.notice("Stopped verdict suppressed: another host runs the VM", metadata: [
                "runningOn": "\(running[0])",
            ])
            return .runningOn(running[0])
        default:
            suppressedStoppedVerdicts.increment()
            logger.error("VM runs on several hosts", metadata: ["runningOn": "\(running)"])
            return .refused(SysError.operationError.error(
                "vm[uuid:\(vm.uuid)] is running on several hosts \(running); not declaring it stopped"))
        }
    }

    // MARK: - Replies

    static let success = HandlerOutput(reply: VmStateChangedOnHostReply())

    static func failure(_ error: ErrorCode) -> HandlerOutput {
        HandlerOutput(reply: VmStateChangedOnHostReply(error: error))
    }

    /// A state name of the message, or `BadRequest` (SYS.1007): retrying a message with a state ZStack does not
    /// have cannot help.
    static func state(_ name: String, field: String, of message: VmStateChangedOnHostMsg) throws -> VmState {
        guard let state = VmState(rawValue: name) else {
            let details = "invalid \(field)[\(name)] for vm[uuid:\(message.vmInstanceUuid)]: not a VmInstanceState"
            throw BadRequest(SysError.invalidArgument.error(details), reason: "invalid-vm-state: \(details)")
        }
        return state
    }
}
