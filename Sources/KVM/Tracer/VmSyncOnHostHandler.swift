import AgentHTTP
import CloudBus
import Inventory
import KVMMessages
import Logging
import Metrics

/// Runs the VM tracer's sync for one host (`VmSyncOnHostMsg`, this worker's own request, see
/// ``VmSyncAfterPing``): ZStack's `KvmVmSyncPingTask.syncVm` followed by `Tracer.trace()`.
///
/// One round: skip snapshot #1 (``VmTraceSkips/beginRound()``); the inventory's expected VMs on the host; the
/// agent's `/vm/vmsync`; then ``VmTracer/verdicts(hostUuid:report:expected:mark:)`` (snapshot #2, mapping,
/// shutdown counter, comparison); ``VmTraceSkips/endRound(_:)`` on every exit path. The verdicts and events are
/// returned as the handler's output, so the worker publishes them before acking the request.
///
/// Key `vmsync:<hostUuid>`: rounds of one host run one at a time in arrival order (ZStack's chain
/// `sync-vm-state-after-ping-host-<host>`), and never queue behind the host's pings (key `<hostUuid>`), so a slow
/// sync never delays a ping's answer. No reply.
///
/// Failures never produce verdicts: an unknown host (deleted since the ping), an agent call that failed, or an
/// inventory read that failed is logged and counted, and the round ends with nothing sent. Cancellation
/// (deadline) propagates.
public struct VmSyncOnHostHandler: BusHandler {
    public typealias Message = VmSyncOnHostMsg

    public let hosts: any HostStore
    public let vms: any VmStore
    public let agent: KVMAgentVmSync
    public let tracer: VmTracer
    public let settings: VmTracerSettings
    /// VM types the tracer leaves alone (ZStack's `CollectVmTracerUnsupportedVmTypeExtensionPoint`). Default: none.
    public let excludedTypes: Set<VmType>
    private let logger: Logger

    public init(
        hosts: any HostStore, caller: AgentCaller, tracer: VmTracer, settings: VmTracerSettings,
        excludedTypes: Set<VmType> = [], logger: Logger = Logger(label: "cloudbus.kvm.vmsync")
    ) {
        self.hosts = hosts
        self.vms = tracer.vms
        self.agent = KVMAgentVmSync(caller: caller)
        self.tracer = tracer
        self.settings = settings
        self.excludedTypes = excludedTypes
        self.logger = logger
    }

    public var expectsReply: Bool { false }
    /// A sync waiting behind another of the same host is redundant: the waiting one reads the agent's report when it
    /// runs. Without this, a hung agent (60 s per sync) let one sync per good ping pile up and take the prefetch.
    public var coalescesWhileWaiting: Bool { true }

    public func resourceKey(for message: VmSyncOnHostMsg) -> String { Self.key(hostUuid: message.hostUuid) }
    public func ownedResource(for message: VmSyncOnHostMsg) -> String? { message.hostUuid }

    /// `vmsync:<hostUuid>`.
    public static func key(hostUuid: String) -> String { "vmsync:\(hostUuid)" }

    public func handle(_ message: VmSyncOnHostMsg, context: HandlerContext) async throws -> HandlerOutput {
        let hostUuid = message.hostUuid
        var logger = logger
        logger[metadataKey: "host"] = "\(hostUuid)"
        let metrics = tracer.metrics
        let host: HostRecord
        do {
            guard let found = try await hosts.host(uuid: hostUuid) else {
                logger.info("no VM sync: host not in the inventory (deleted since the ping?)")
                metrics.roundsFailed.increment()
                return HandlerOutput()
            }
            host = found
        } catch let error as InventoryError {
            logger.error("no VM sync: cannot read the host", metadata: ["error": "\(error)"])
            metrics.roundsFailed.increment()
            return HandlerOutput()
        }

        let mark = await tracer.skips.beginRound()
        do {
            let messages = try await round(host, mark: mark, context: context, logger: logger)
            await tracer.skips.endRound(mark)
            metrics.roundsOK.increment()
            return HandlerOutput(messages: messages)
        } catch let failure as VmSyncFailure {
            await tracer.skips.endRound(mark)
            logger.warning("VM sync failed; no verdict this round", metadata: ["error": "\(failure)"])
            metrics.roundsFailed.increment()
            return HandlerOutput()
        } catch let error as InventoryError {
            await tracer.skips.endRound(mark)
            logger.error("VM sync failed: inventory unreadable; no verdict this round", metadata: ["error": "\(error)"])
            metrics.roundsFailed.increment()
            return HandlerOutput()
        } catch {
            await tracer.skips.endRound(mark)
            throw error
        }
    }

    private func round(
        _ host: HostRecord, mark: TraceRoundMark, context: HandlerContext, logger: Logger
    ) async throws -> [OutboundMessage] {
        let expected = try await vms.expectedVms(onHost: host.uuid, excludingTypes: excludedTypes)
        let budget = PingBudget(context: context).available(upTo: settings.agentTimeout)
        guard budget > .zero else {
            throw VmSyncFailure(
                hostUuid: host.uuid, endpoint: KVMAgentPing.endpoint(of: host),
                cause: .noTimeLeft)
        }
        let report = try await agent.report(of: host, timeout: budget, connectTimeout: settings.connectTimeout)
        logger.debug("VM sync report", metadata: [
            "reported": "\(report.states.count)", "expected": "\(expected.count)"])
        return try await tracer.verdicts(hostUuid: host.uuid, report: report, expected: expected, mark: mark)
    }
}
