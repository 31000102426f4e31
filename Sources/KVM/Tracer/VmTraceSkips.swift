/// Where a sync round marks its first skip snapshot (ZStack's snapshot #1, taken before `/vm/vmsync` is sent).
public struct TraceRoundMark: Sendable, Hashable {
    /// The registry's change counter when the round began.
    public let sequence: UInt64
    /// The registry clock's reading when the round began (orphan TTLs are judged at this instant for snapshot #1).
    public let instant: Duration

    public init(sequence: UInt64, instant: Duration) {
        self.sequence = sequence
        self.instant = instant
    }
}

/// What the VM tracer and the VM handler ask of the skip registry: which VMs an in-flight operation (of any
/// management node, or of a node that left less than `kvm.orphanedVmSkipTimeout` ago) owns.
///
/// The tracer's skip set is the union of two snapshots (before the agent call and after its reply). To keep a sync
/// of 1,000 VMs cheap while the registry holds 100,000 entries, the tracer never copies the registry: it takes a
/// mark, then asks about the VMs it actually compares.
public protocol VmTraceSkips: Sendable {
    /// Snapshot #1: remember the registry as it is now.
    func beginRound() async -> TraceRoundMark

    /// Snapshot #1 ∪ snapshot #2 restricted to `vms`: those skipped (skip entries of live nodes, or orphans within
    /// their TTL) at `mark`, or now.
    func skipped(among vms: [String], since mark: TraceRoundMark) async -> Set<String>

    /// The round that began at `mark` is over (lets the registry forget what it kept for that round).
    func endRound(_ mark: TraceRoundMark) async

    /// The tracer's missing-VM hook (`shouldSkipMissingVmHandling`): whether `vmUuid` is orphan-skipped now,
    /// judged against the current TTL (an expired entry is removed by compare-and-remove and gives false).
    func isOrphanSkipped(_ vmUuid: String) async -> Bool

    /// Whether `vmUuid`'s orphan entry expired (rather than being continued) recently: a Stopped verdict for it
    /// may be the split-brain race the TTL only deferred, so the VM handler confirms it across the cluster first.
    func orphanExpiredRecently(_ vmUuid: String) async -> Bool

    /// The fleet-wide second opinion before missing-VM verdicts: which of `vms` a store shared with other workers
    /// says are skipped (a skip another worker received). Registries that share no store answer none.
    func protectedFleetWide(_ vms: [String]) async -> Set<String>
}

extension VmTraceSkips {
    /// No shared store, nothing to add.
    public func protectedFleetWide(_ vms: [String]) async -> Set<String> { [] }
}
