import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Logging
import MetricsTestKit
import Synchronization
import Testing

/// A real in-memory SQLite inventory, a one-node ring, a scripted skip registry and presence probe, and test
/// metrics: everything ``VmStateChangedOnHostHandler`` and ``VmFullStateChangeSubscriber`` need, with helpers to
/// read back what they emitted.
struct VmStateFixture {
    static let node = NodeUUID("9b1d387e11bd3ab0a673c655eb4c8f66")!
    static let otherNode = NodeUUID("446d0be655ec32fc9922965af3bd984f")!
    static let vm = "b0000000000000000000000000000001"
    static let h1 = "a0000000000000000000000000000001"
    static let h2 = "a0000000000000000000000000000002"
    static let h3 = "a0000000000000000000000000000003"
    static let cluster = "c0000000000000000000000000000001"

    let inventory: SQLiteInventory
    let membership: ClusterMembership
    let skips = ScriptedTraceSkips()
    let probe = ScriptedPresenceProbe()
    let metrics = TestMetrics()

    init(otherNodes: [NodeUUID] = []) throws {
        inventory = try SQLiteInventory.inMemory()
        membership = ClusterMembership(selfNode: Self.node, otherNodes: otherNodes)
    }

    var handler: VmStateChangedOnHostHandler {
        VmStateChangedOnHostHandler(
            vms: inventory, membership: membership, skips: skips, probe: probe, metrics: metrics,
            logger: Logger.quiet)
    }

    var subscriber: VmFullStateChangeSubscriber {
        VmFullStateChangeSubscriber(vms: inventory, membership: membership, logger: Logger.quiet)
    }

    /// Stores V (or `uuid`) with the given state and hosts.
    @discardableResult
    func store(
        _ state: VmState, host: String? = nil, lastHost: String? = nil, uuid: String = VmStateFixture.vm,
        cluster: String? = VmStateFixture.cluster
    ) async throws -> VmRecord {
        let record = VmRecord(uuid: uuid, state: state, hostUuid: host, lastHostUuid: lastHost, clusterUuid: cluster)
        try await inventory.upsertVms([record])
        return record
    }

    func stored(_ uuid: String = VmStateFixture.vm) async throws -> VmRecord? {
        try await inventory.vm(uuid: uuid)
    }

    /// Hands one host report to the handler and returns its output.
    func report(
        _ state: String, by host: String, expected: String?, fromSync: Bool = true, uuid: String = VmStateFixture.vm
    ) async throws -> HandlerOutput {
        try await handler.handle(
            VmStateChangedOnHostMsg(
                vmInstanceUuid: uuid, hostUuid: host, stateOnHost: state, vmStateAtTracingMoment: expected,
                fromSync: fromSync),
            context: Self.context())
    }

    static func context() -> HandlerContext {
        HandlerContext(base: MessageBase(createdTime: EpochMillis.now()), deadline: nil, redelivered: false)
    }
}

/// What a handler output holds, decoded.
struct Emitted {
    var tracerEvents: [VmTracerStateChangedData] = []
    var fullStateEvents: [VmFullStateChangedData] = []
    var deviceInfoSyncs: [(message: SyncVmDeviceInfoMsg, service: String, base: MessageBase)] = []
    var destroys: [(message: DestroyVmOnHypervisorMsg, service: String, base: MessageBase)] = []
    var eventEnvelopes: [(event: CanonicalEvent, base: MessageBase, routingKey: String)] = []

    static let registry = MessageRegistry([
        CanonicalEvent.self, SyncVmDeviceInfoMsg.self, DestroyVmOnHypervisorMsg.self,
    ])

    init(_ messages: [OutboundMessage]) throws {
        for message in messages {
            let decoded = try EnvelopeCodec.decode(message.body, registry: Self.registry)
            switch message.target {
            case .event(let routingKey):
                let event = try #require(decoded.typed(as: CanonicalEvent.self)?.message)
                eventEnvelopes.append((event, decoded.base, routingKey))
                switch event.path {
                case VmTracerStateChangedData.path:
                    tracerEvents.append(try event.content(as: VmTracerStateChangedData.self))
                case VmFullStateChangedData.path:
                    fullStateEvents.append(try event.content(as: VmFullStateChangedData.self))
                default:
                    Issue.record("unexpected event path \(event.path)")
                }
            case .service(let service):
                if let sync = decoded.typed(as: SyncVmDeviceInfoMsg.self)?.message {
                    deviceInfoSyncs.append((sync, service, decoded.base))
                } else if let destroy = decoded.typed(as: DestroyVmOnHypervisorMsg.self)?.message {
                    destroys.append((destroy, service, decoded.base))
                } else {
                    Issue.record("unexpected request \(decoded.className) to \(service)")
                }
            }
        }
    }

    init(_ output: HandlerOutput) throws { try self.init(output.messages) }

    var isEmpty: Bool {
        tracerEvents.isEmpty && fullStateEvents.isEmpty && deviceInfoSyncs.isEmpty && destroys.isEmpty
    }
}

extension HandlerOutput {
    /// The reply, which must be a `VmStateChangedOnHostReply`.
    var stcReply: VmStateChangedOnHostReply {
        get throws { try #require(reply as? VmStateChangedOnHostReply) }
    }
}

/// The skip registry as the handler sees it: only `orphanExpiredRecently` is scripted; the rest answers "nothing
/// skipped" (the tracer's side, not used by the handler).
final class ScriptedTraceSkips: VmTraceSkips {
    private let recentlyExpired = Mutex<Set<String>>([])
    private let askedFor = Mutex<[String]>([])

    func markExpiredRecently(_ vmUuid: String) { recentlyExpired.withLock { _ = $0.insert(vmUuid) } }
    var asked: [String] { askedFor.withLock { $0 } }

    func beginRound() async -> TraceRoundMark { TraceRoundMark(sequence: 0, instant: .zero) }
    func skipped(among vms: [String], since mark: TraceRoundMark) async -> Set<String> { [] }
    func endRound(_ mark: TraceRoundMark) async {}
    func isOrphanSkipped(_ vmUuid: String) async -> Bool { false }
    func orphanExpiredRecently(_ vmUuid: String) async -> Bool {
        askedFor.withLock { $0.append(vmUuid) }
        return recentlyExpired.withLock { $0.contains(vmUuid) }
    }
}

struct ProbeFailure: Error, CustomStringConvertible {
    var description: String { "host a0000000000000000000000000000003 did not answer /vm/vmsync" }
}

/// Answers each probe with the next scripted result (no script: nobody runs the VM) and records the questions.
final class ScriptedPresenceProbe: VmPresenceProbe {
    struct Call: Hashable { var vmUuid: String; var clusterUuid: String?; var excluding: String }
    private let answers = Mutex<[Result<[String], ProbeFailure>]>([])
    private let recorded = Mutex<[Call]>([])

    func answer(_ result: Result<[String], ProbeFailure>) { answers.withLock { $0.append(result) } }
    var calls: [Call] { recorded.withLock { $0 } }

    func hostsRunning(vmUuid: String, clusterUuid: String?, excluding hostUuid: String) async throws -> [String] {
        recorded.withLock { $0.append(Call(vmUuid: vmUuid, clusterUuid: clusterUuid, excluding: hostUuid)) }
        let next = answers.withLock { $0.isEmpty ? Result.success([]) : $0.removeFirst() }
        return try next.get()
    }
}

