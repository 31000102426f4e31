import AgentHTTP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import Logging
import MetricsTestKit
import Primitives
import Synchronization
import Testing
import ZBS

/// Three MDS — `mds-a`, `mds-b`, `mds-c` — of one ZBS primary storage, each a real peer on 127.0.0.1: a fake MDS
/// agent by default, or a closed port (refuses), a silent listener (accepts, never answers) or a never-accepting
/// listener (connect timeout). MDS addresses are names mapped to the loopback endpoints by the caller's
/// `endpointOf`, so requests can be checked for `addr`. Candidates are tried in configured order (A, B, C) unless a
/// test gives another shuffle. Everything is torn down on every exit path.
struct MdsFixture {
    enum Peer {
        case fake
        case refusing
        case silent
        case neverAccepting
    }

    static let storageUuid = "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b"
    static let addrs = ["mds-a", "mds-b", "mds-c"]
    /// Loopback on a loaded 2-core machine has been seen to take over a second per round trip.
    static let attemptTimeout: Duration = .milliseconds(1500)

    let server: CallbackServer
    let agentCaller: AgentCaller
    /// The fake agent behind each address whose peer is `.fake`.
    let fakes: [String: FakeMDSAgent]
    let silent: [String: SilentLoopbackListener]
    let endpoints: [String: AgentEndpoint]
    let inventory: SQLiteInventory
    let memory: MdsFailureMemory
    let caller: MdsCaller
    let calls: ZbsStorageCalls
    /// What the MDS caller counted (``ZBSMetrics``); the agent caller counts nothing here.
    let metrics: TestMetrics

    var a: FakeMDSAgent { fakes["mds-a"]! }
    var b: FakeMDSAgent { fakes["mds-b"]! }
    var c: FakeMDSAgent { fakes["mds-c"]! }

    static func storage(
        statuses: [MdsStatus] = [.connected, .connected, .connected]
    ) -> ZbsPrimaryStorageRecord {
        ZbsPrimaryStorageRecord(
            uuid: storageUuid,
            mds: zip(addrs, statuses).map { MdsRecord(addr: $0, status: $1) },
            logicalPools: [ZbsLogicalPool(logicalPoolName: "lp", physicalPoolName: "pp")])
    }

    static func with<T>(
        peers: [Peer] = [.fake, .fake, .fake],
        statuses: [MdsStatus] = [.connected, .connected, .connected],
        shuffle: MdsShuffle = .configuredOrder,
        memoryWindow: Duration = .seconds(60),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        attemptTimeout: Duration = MdsFixture.attemptTimeout,
        concurrencyPerMds: Int = 8,
        _ body: (MdsFixture) async throws -> T
    ) async throws -> T {
        try await CallbackServer.withRunning { server in
            try await withPeers(peers, statuses: statuses, shuffle: shuffle, memoryWindow: memoryWindow, now: now,
                                attemptTimeout: attemptTimeout, concurrencyPerMds: concurrencyPerMds, server: server,
                                body)
        }
    }

    /// Starts the peers in order; the teardown closes the ones that started, however `body` (or a later start) ends.
    private static func withPeers<T>(
        _ peers: [Peer], statuses: [MdsStatus], shuffle: MdsShuffle, memoryWindow: Duration,
        now: @escaping @Sendable () -> ContinuousClock.Instant, attemptTimeout: Duration, concurrencyPerMds: Int,
        server: CallbackServer, _ body: (MdsFixture) async throws -> T
    ) async throws -> T {
        var fakes: [String: FakeMDSAgent] = [:]
        var silent: [String: SilentLoopbackListener] = [:]
        var blackholes: [NeverAcceptingListener] = []
        var refusing: [ClosedLoopbackPort] = []
        var endpoints: [String: AgentEndpoint] = [:]
        func tearDown() async {
            for fake in fakes.values { await fake.shutdown() }
            for listener in silent.values { await listener.close() }
            for listener in blackholes { await listener.close() }
            refusing.removeAll()  // the reserved ports are released here, not before
        }
        return try await withTeardown(tearDown) {
            for (addr, peer) in zip(addrs, peers) {
                switch peer {
                case .fake:
                    let fake = try await FakeMDSAgent.start(
                        configuration: .init(physicalPools: ["lp": "pp"]), logger: Logger.quiet)
                    fakes[addr] = fake
                    endpoints[addr] = fake.endpoint
                case .refusing:
                    let closed = try await ClosedLoopbackPort.make()
                    refusing.append(closed)
                    endpoints[addr] = closed.endpoint
                case .silent:
                    let listener = try await SilentLoopbackListener.start()
                    silent[addr] = listener
                    endpoints[addr] = listener.endpoint
                case .neverAccepting:
                    let listener = try await NeverAcceptingListener.start()
                    blackholes.append(listener)
                    endpoints[addr] = listener.endpoint
                }
            }
            let inventory = try SQLiteInventory.inMemory()
            try await inventory.upsertZbsPrimaryStorages([storage(statuses: statuses)])
            let agentCaller = AgentCaller(
                client: AgentHTTPClient(), callbackServer: server, defaultConnectTimeout: .seconds(1))
            let memory = MdsFailureMemory(window: memoryWindow, now: now)
            let resolved = endpoints
            let metrics = TestMetrics()
            let caller = MdsCaller(
                caller: agentCaller,
                settings: MdsCallSettings(
                    connectTimeout: .seconds(1), attemptTimeout: attemptTimeout, concurrencyPerMds: concurrencyPerMds),
                memory: memory, shuffle: shuffle,
                endpointOf: { mds in resolved[mds.addr] ?? AgentEndpoint(host: "127.0.0.1", port: 9) },
                metrics: metrics, logger: Logger.quiet)
            let fixture = MdsFixture(
                server: server, agentCaller: agentCaller, fakes: fakes, silent: silent, endpoints: endpoints,
                inventory: inventory, memory: memory, caller: caller,
                calls: ZbsStorageCalls(storages: inventory, caller: caller), metrics: metrics)
            return try await body(fixture)
        }
    }

    /// The storage as currently stored.
    func storage() async throws -> ZbsPrimaryStorageRecord {
        try #require(try await inventory.zbsPrimaryStorage(uuid: Self.storageUuid))
    }

    /// Requests every fake received on `path`, per address.
    func requestCounts(path: String) -> [String: Int] {
        fakes.mapValues { $0.receivedRequests(path: path).count }
    }

    /// Total requests the fakes received on any path.
    var totalRequests: Int { fakes.values.reduce(0) { $0 + $1.receivedRequests.count } }

    /// Calls `path` directly through the MDS caller.
    func call(
        _ path: String, sync: Bool = false, tryNext: Bool = false, targetAddr: String? = nil,
        command: [String: JSONValue] = [:]
    ) async throws -> MdsAnswer {
        try await caller.call(
            try await storage(), command: command,
            options: MdsCallOptions(path: path, sync: sync, tryNext: tryNext, targetAddr: targetAddr))
    }

    /// The `MdsCallError` `body` throws (fails the test when it throws anything else or nothing).
    static func mdsError(_ body: () async throws -> Void) async throws -> MdsCallError {
        do {
            try await body()
        } catch let error as MdsCallError {
            return error
        }
        Issue.record("expected an MdsCallError, the call succeeded")
        throw CancellationError()
    }
}

/// `ContinuousClock` instants that move only when a test says so: the failure memory reads time through a
/// `() -> ContinuousClock.Instant` (CloudBusTesting's `ManualClock` is a whole `Clock`, for code that sleeps).
final class SteppedInstants: Sendable {
    private let offset = Mutex<Duration>(.zero)
    private let start = ContinuousClock.now

    var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
}

extension MdsFixture {
    /// Attempts the MDS caller counted as timed out on the MDSes at `addrs`.
    func timedOutAttempts(on addrs: [String]) -> Int {
        var total = 0
        for addr in addrs {
            for counter in metrics.counters(label: "cloudbus_worker_mds_calls_total",
                                            dimensions: [("mds", MdsMetricsTests.mds(addr)), ("outcome", "timeout")]) {
                total += Int(counter.totalValue)
            }
        }
        return total
    }
}
