import AgentHTTP
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

/// A skip registry small enough to read in a test, implementing the protocol's promises: snapshot #1 at
/// `beginRound`, union with the current entries in `skipped(among:since:)`, orphans skipped while
/// `now - orphanedAt < ttl` and removed (compare-and-remove) by `isOrphanSkipped` once expired.
actor TestTraceSkips: VmTraceSkips {
    private(set) var live: Set<String> = []
    private(set) var orphans: [String: Duration] = [:]
    private var snapshots: [UInt64: Set<String>] = [:]
    private var sequence: UInt64 = 0
    var now: Duration = .seconds(1_000)
    var ttl: Duration = .seconds(600)
    /// When false, orphans are left out of both snapshots, so only the missing-VM hook sees them (scenario 40).
    var orphansInSnapshots = true
    private(set) var roundsBegun = 0
    private(set) var roundsEnded = 0
    private(set) var orphanQuestions: [String] = []

    init(skipping: Set<String> = []) { live = skipping }

    func skip(_ vm: String) { live.insert(vm) }
    func resume(_ vm: String) { live.remove(vm) }
    func orphan(_ vm: String, at instant: Duration) { orphans[vm] = instant }
    func set(now: Duration) { self.now = now }
    func setOrphansInSnapshots(_ value: Bool) { orphansInSnapshots = value }

    private func current() -> Set<String> {
        guard orphansInSnapshots else { return live }
        return live.union(orphans.filter { now - $0.value < ttl }.keys)
    }

    func beginRound() -> TraceRoundMark {
        sequence += 1
        roundsBegun += 1
        snapshots[sequence] = current()
        return TraceRoundMark(sequence: sequence, instant: now)
    }

    func skipped(among vms: [String], since mark: TraceRoundMark) -> Set<String> {
        let union = (snapshots[mark.sequence] ?? []).union(current())
        return Set(vms.filter(union.contains))
    }

    func endRound(_ mark: TraceRoundMark) {
        roundsEnded += 1
        snapshots[mark.sequence] = nil
    }

    func isOrphanSkipped(_ vmUuid: String) -> Bool {
        orphanQuestions.append(vmUuid)
        guard let orphanedAt = orphans[vmUuid] else { return false }
        if now - orphanedAt < ttl { return true }
        if orphans[vmUuid] == orphanedAt { orphans[vmUuid] = nil }
        return false
    }

    func orphanExpiredRecently(_ vmUuid: String) -> Bool { false }
}


/// What one sync round sent, decoded.
struct SentByRound {
    var stateChanges: [VmStateChangedOnHostMsg] = []
    /// Service ids the state changes were addressed to, in the same order.
    var stateChangeServices: [String] = []
    var events: [CanonicalEvent] = []
    var bases: [MessageBase] = []

    static let registry = MessageRegistry([VmStateChangedOnHostMsg.self, CanonicalEvent.self, VmSyncOnHostMsg.self])

    init(_ messages: [OutboundMessage]) throws {
        for message in messages {
            let decoded = try EnvelopeCodec.decode(message.body, registry: Self.registry)
            bases.append(decoded.base)
            switch message.target {
            case .service(let service):
                stateChanges.append(try #require(decoded.message as? VmStateChangedOnHostMsg))
                stateChangeServices.append(service)
                #expect(decoded.base.serviceId == service)
                #expect(decoded.base.headers.isNoReply)
            case .event(let routingKey):
                #expect(routingKey == CanonicalEvent.routingKey)
                events.append(try #require(decoded.message as? CanonicalEvent))
            }
        }
    }

    func events(at path: String) -> [CanonicalEvent] { events.filter { $0.path == path } }
}

/// A real fake kvmagent and callback server over loopback, an in-memory SQLite inventory, an in-test skip
/// registry and a real ``VmSyncOnHostHandler``.
struct TracerFixture {
    let server: CallbackServer
    let agent: FakeKVMAgent
    let caller: AgentCaller
    let inventory: SQLiteInventory
    let skips: TestTraceSkips
    let membership: ClusterMembership
    let settings: VmTracerSettings
    let metrics: TestMetrics
    let strangers: StrangerVmCache
    let shutdowns: VmShutdownCounter

    static let h1 = "1f2e3d4c5b6a79881f2e3d4c5b6a7988"
    static let h2 = "aaaabbbbccccddddeeeeffff00001111"

    static func vm(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        return "b" + String(repeating: "0", count: 31 - hex.count) + hex
    }

    static func with<T>(_ body: (TracerFixture) async throws -> T) async throws -> T {
        let inventory = try SQLiteInventory.inMemory()
        return try await LoopbackKVMAgent.with { loopback in
            let fixture = TracerFixture(
                server: loopback.server, agent: loopback.agent, caller: loopback.caller,
                inventory: inventory, skips: TestTraceSkips(),
                membership: ClusterMembership(selfNode: NodeUUID.random()),
                settings: VmTracerSettings(agentTimeout: .seconds(5), connectTimeout: .seconds(2)),
                metrics: TestMetrics(), strangers: StrangerVmCache(), shutdowns: VmShutdownCounter())
            let port = loopback.agent.port
            try await inventory.upsertHosts([
                HostRecord(uuid: h1, managementIp: "127.0.0.1", agentPort: port, status: .connected),
                HostRecord(uuid: h2, managementIp: "127.0.0.1", agentPort: port, status: .connected),
            ])
            return try await body(fixture)
        }
    }

    var tracer: VmTracer {
        VmTracer(
            vms: inventory, skips: skips, outbox: VmTracerOutbox(membership: membership),
            tracerOn: settings.tracerOn, strangers: strangers, shutdowns: shutdowns, metrics: metrics,
            logger: Logger.quiet)
    }

    var handler: VmSyncOnHostHandler {
        VmSyncOnHostHandler(
            hosts: inventory, caller: caller, tracer: tracer, settings: settings, logger: Logger.quiet)
    }

    func store(_ vms: VmRecord...) async throws { try await inventory.upsertVms(vms) }

    func report(_ host: String, _ states: [String: String], inShutdown: [String] = []) {
        agent.setVMReport(FakeKVMAgent.HostVMReport(states: states, vmInShutdowns: inShutdown), host: host)
    }

    /// Runs one sync round of `host` and decodes what it sent.
    func sync(_ host: String) async throws -> SentByRound {
        let output = try await handler.handle(VmSyncOnHostMsg(hostUuid: host), context: context())
        #expect(output.reply == nil)
        return try SentByRound(output.messages)
    }

    var vmsyncRequests: [FakeKVMAgent.RecordedRequest] { agent.receivedRequests(path: KVMAgentVmSync.path) }
}
