import CloudBus
import Inventory
import LiveSettings
import Logging
import MetricHandles
import Metrics
import Primitives

/// Which VMs an operation in flight owns, cluster-wide (ZStack's `vmsToSkip`/`vmApis` maps plus PR #3330's
/// orphan set): the VM tracer leaves those VMs alone so a half-done start or migration is not judged Stopped.
///
/// What it keeps, per management node: the skipped operations in flight on each VM (counted, so two overlapping
/// operations each need their continue-trace), and API id → VM; across nodes: orphans (VM → when the node that
/// ran its operation left) and tombstones of recently expired orphans. An orphan stops protecting its VM when
/// continued by any node, or once `kvm.orphanedVmSkipTimeout` (read at every check) has passed:
/// `now - orphanedAt >= timeout` is expired, for checks and cleanup alike.
///
/// Everything runs on this actor, so a call that does not suspend is atomic. Expired orphans are still removed
/// compare-and-remove (only if the entry still holds the judged timestamp), because a cleanup tick and
/// ``isOrphanSkipped(_:)`` may suspend between judging and removing.
///
/// Persistence (optional): every change is written through to a ``SkipEntryStore`` in order, by one writer at a
/// time, after the in-memory change (checks never wait for the disk). A failed write is logged and counted
/// (``KVMMetrics/skipRegistryStoreFailures``); the next write rewrites, from memory, the rows the lost changes
/// touched, and only those (other workers of a fleet write the same table). Memory stays authoritative for this
/// worker.
/// ``open(ownNode:timeout:store:sharesStore:clock:metrics:logger:)`` reloads the state, and turns the entries
/// recorded under this worker's own node id into orphans: the operations of a restarted node are not forgotten.
///
/// Times in the store are the store's (``SkipEntryChange``): ages convert to this registry's monotonic clock on
/// load and back on write. With a store shared by a fleet (`sharesStore`), the registry also asks it before a
/// missing-VM verdict (``protectedFleetWide(_:)``) and before calling an orphan's expiry old news
/// (``orphanExpiredRecently(_:)``): a skip this worker never received still protects the VM, judged on the
/// store's clock.
public actor SkipRegistry: VmTraceSkips {
    /// How often ``run()`` removes expired orphans and tombstones (PR #3330's named constant).
    public static let cleanupInterval: Duration = .seconds(60)
    /// Changes kept for open tracer rounds before the oldest round is abandoned.
    public static let defaultRoundLogCapacity = 1_000_000

    /// `kvm.orphanedVmSkipTimeout`: whole seconds > 0 (ZStack's default 600), the registry's `timeout`.
    public static func timeoutSetting(default seconds: Int64 = 600) -> LiveSetting<Duration> {
        .positiveSeconds(name: "kvm.orphanedVmSkipTimeout", default: seconds)
    }

    struct NodeSkips: Sendable {
        var operations: [String: Int] = [:]
        var apiVms: [String: String] = [:]
        var isEmpty: Bool { operations.isEmpty && apiVms.isEmpty }
    }

    /// This worker's management node id.
    public nonisolated let ownNode: String
    let timeout: LiveSetting<Duration>
    nonisolated let clock: RegistryClock
    let store: (any SkipEntryStore)?
    /// Whether other workers write `store` too (a fleet on PostgreSQL): then it is asked before verdicts.
    let sharesStore: Bool
    let metrics: SkipRegistryMetrics
    let logger: Logger
    let probe: SkipRegistryProbe

    var nodes: [String: NodeSkips] = [:]
    /// Nodes whose NodeLeft was processed with no NodeJoin since → when they left (registry clock).
    var departed: [String: Duration] = [:]
    /// VM → operations in flight across all nodes (the O(1) answer to "is an operation running on it").
    /// Every change is mirrored in ``KVMMetrics/skipRegistrySkips`` (a `didSet` without `oldValue` keeps the
    /// dictionary mutated in place).
    var operationCount: [String: Int] = [:] {
        didSet { metrics.skips.record(operationCount.count) }
    }
    /// Mirrored in ``KVMMetrics/skipRegistryOrphans``.
    var orphans: [String: Duration] = [:] {
        didSet { metrics.orphans.record(orphans.count) }
    }
    /// VM → when its expired orphan entry was removed.
    var tombstones: [String: Duration] = [:]
    var sequence: UInt64 = 0
    var rounds: TraceRoundLog

    var pendingChanges: [SkipEntryChange] = []
    var flushing = false
    /// Rows whose last write failed: rewritten from memory by the next flush (see ``SkipStoreKey``).
    var dirtyKeys: Set<SkipStoreKey> = []
    var flushWaiters: [CheckedContinuation<Void, Never>] = []
    /// Completed cleanup ticks (for tests and status).
    var cleanupTicks = 0

    /// A registry that keeps its state in memory only (tests, tools, or no inventory).
    ///
    /// - Parameters:
    ///   - ownNode: this worker's management node id.
    ///   - timeout: `kvm.orphanedVmSkipTimeout`; read at every check, so a change applies to existing orphans.
    ///   - clock: monotonic clock for orphan ages, rounds and the cleanup period (`ContinuousClock()` in
    ///     production).
    ///   - metrics: where the registry's families (``KVMMetrics``, `skip_registry_…`) are created, once, here.
    public init<C: Clock<Duration>>(
        ownNode: String, timeout: LiveSetting<Duration>, clock: C,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance, logger: Logger
    ) {
        self.init(
            ownNode: ownNode, timeout: timeout, store: nil, sharesStore: false, clock: clock, metrics: metrics,
            logger: logger, probe: SkipRegistryProbe(), roundLogCapacity: Self.defaultRoundLogCapacity)
    }

    init<C: Clock<Duration>>(
        ownNode: String, timeout: LiveSetting<Duration>, store: (any SkipEntryStore)?, sharesStore: Bool, clock: C,
        metrics: any MetricsFactory, logger: Logger, probe: SkipRegistryProbe, roundLogCapacity: Int
    ) {
        self.ownNode = ownNode
        self.timeout = timeout
        self.store = store
        self.sharesStore = store != nil && sharesStore
        self.clock = RegistryClock(clock)
        self.metrics = SkipRegistryMetrics(factory: metrics)
        self.logger = logger
        self.probe = probe
        self.rounds = TraceRoundLog(capacity: roundLogCapacity)
    }

    /// A registry persisted in `store`, loaded from it before it is returned (so no event can race the load).
    /// Entries recorded under `ownNode` (this worker, before a restart) become orphans as of now; orphan ages
    /// continue from the store's clock. `sharesStore`: other workers write the same store (a fleet), so it is
    /// asked before verdicts (see the type's notes).
    ///
    /// - Throws: the store's error when the stored state cannot be read (the worker should not start with a
    ///   registry that silently forgot what it protected).
    public static func open<C: Clock<Duration>>(
        ownNode: String, timeout: LiveSetting<Duration>, store: any SkipEntryStore, sharesStore: Bool = false,
        clock: C, metrics: any MetricsFactory = NOOPMetricsHandler.instance, logger: Logger
    ) async throws -> SkipRegistry {
        try await open(
            ownNode: ownNode, timeout: timeout, store: store, sharesStore: sharesStore, clock: clock,
            metrics: metrics, logger: logger, probe: SkipRegistryProbe())
    }

    static func open<C: Clock<Duration>>(
        ownNode: String, timeout: LiveSetting<Duration>, store: any SkipEntryStore, sharesStore: Bool, clock: C,
        metrics: any MetricsFactory, logger: Logger, probe: SkipRegistryProbe
    ) async throws -> SkipRegistry {
        let snapshot = try await store.loadSkipRegistry()
        let registry = SkipRegistry(
            ownNode: ownNode, timeout: timeout, store: store, sharesStore: sharesStore, clock: clock,
            metrics: metrics, logger: logger, probe: probe, roundLogCapacity: defaultRoundLogCapacity)
        await registry.restore(snapshot)
        return registry
    }

    // MARK: - State of one VM

    func state(of vmUuid: String) -> VmSkipState {
        VmSkipState(operations: operationCount[vmUuid] ?? 0, orphanedAt: orphans[vmUuid])
    }

    /// Called before every change to `vmUuid`'s skip state: advances the change sequence and, while a tracer
    /// round is open, remembers the state before the change.
    func willChange(_ vmUuid: String) {
        sequence &+= 1
        let abandoned = rounds.record(sequence, vmUuid: vmUuid, before: state(of: vmUuid))
        if abandoned > 0 {
            metrics.roundsAbandoned.increment(by: abandoned)
            logger.warning("tracer rounds abandoned: change log full", metadata: [
                "rounds": "\(abandoned)", "capacity": "\(rounds.capacity)",
            ])
        }
    }

    /// How long ago `instant` was on the registry clock, in the store's unit (ages are what the store stamps).
    func ageMillis(of instant: Duration) -> Int64 {
        max(0, (clock.now - instant).inMilliseconds)
    }

    /// Counts for logs and status: nodes with entries, operations, API ids, orphans, tombstones, departed nodes.
    public func status() -> SkipRegistryStatus {
        SkipRegistryStatus(
            nodesWithEntries: nodes.count,
            operations: operationCount.values.reduce(0, +),
            skippedVms: operationCount.count,
            apiIds: nodes.values.reduce(0) { $0 + $1.apiVms.count },
            orphans: orphans.count,
            tombstones: tombstones.count,
            departedNodes: departed.count,
            openRounds: rounds.openRoundCount)
    }
}

/// A summary of the registry's contents (see ``SkipRegistry/status()``).
public struct SkipRegistryStatus: Sendable, Hashable {
    public var nodesWithEntries: Int
    public var operations: Int
    public var skippedVms: Int
    public var apiIds: Int
    public var orphans: Int
    public var tombstones: Int
    public var departedNodes: Int
    public var openRounds: Int
}

/// The registry's handles, made once per registry. The gauges start at 0, so the families exist before the first
/// skip arrives.
struct SkipRegistryMetrics: Sendable {
    let skips: Gauge
    let orphans: Gauge
    let orphansExpired: Counter
    let storeFailures: Counter
    let roundsAbandoned: Counter
    let sharedCheckFailures: Counter
    let lateSkipsOrphaned: Counter

    init(factory: any MetricsFactory) {
        skips = KVMMetrics.skipRegistrySkips.gauge(factory: factory)
        orphans = KVMMetrics.skipRegistryOrphans.gauge(factory: factory)
        orphansExpired = KVMMetrics.skipRegistryOrphansExpired.counter(factory: factory)
        storeFailures = KVMMetrics.skipRegistryStoreFailures.counter(factory: factory)
        roundsAbandoned = KVMMetrics.skipRegistryRoundsAbandoned.counter(factory: factory)
        sharedCheckFailures = KVMMetrics.skipRegistrySharedCheckFailures.counter(factory: factory)
        lateSkipsOrphaned = KVMMetrics.skipRegistryLateSkipsOrphaned.counter(factory: factory)
        skips.record(0)
        orphans.record(0)
    }
}
