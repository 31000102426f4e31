import Primitives

/// The metric families the KVM module emits (skip registry, VM tracer, VM state handler, device-info sync). The
/// code creates its handles from these entries' names and label names, so the catalogue and what is exported
/// cannot drift; the worker's exporter writes the help texts, and the alert rules and dashboard rely on the names.
///
/// Label values come from the code's own enums (VM states, outcomes, guards), never from a message: a remote
/// sender cannot grow the number of series.
public enum KVMMetrics {
    // MARK: Skip registry

    public static let skipRegistrySkips = MetricDescription(
        "cloudbus_worker_skip_registry_skips", .gauge,
        help: "VMs that an operation in flight currently shields from the VM tracer (live skip entries).")
    public static let skipRegistryOrphans = MetricDescription(
        "cloudbus_worker_skip_registry_orphans", .gauge,
        help: "VMs still shielded because the node running their operation left (live orphans, TTL running).")
    public static let skipRegistryOrphansExpired = MetricDescription(
        "cloudbus_worker_skip_registry_orphans_expired_total", .counter,
        help: "Orphan skips whose TTL ran out: the tracer may now judge these VMs, Stopped verdicts may follow.")
    public static let skipRegistryStoreFailures = MetricDescription(
        "cloudbus_worker_skip_registry_store_failures_total", .counter,
        help: "Skip registry writes the store refused: memory still protects the VMs, a restart may not.")
    public static let skipRegistryRoundsAbandoned = MetricDescription(
        "cloudbus_worker_skip_registry_rounds_abandoned_total", .counter,
        help: "Tracer rounds abandoned because the registry's change log was full (those rounds send nothing).")
    public static let skipRegistrySharedCheckFailures = MetricDescription(
        "cloudbus_worker_skip_registry_shared_check_failures_total", .counter,
        help: "Checks of the fleet's shared skip rows that failed: verdicts on those VMs held for a round.")
    public static let skipRegistryLateSkipsOrphaned = MetricDescription(
        "cloudbus_worker_skip_registry_late_skips_orphaned_total", .counter,
        help: "Skip-trace events that arrived from a node already gone: their VMs were made orphans at once.")

    // MARK: VM tracer

    /// `outcome` values: ``RoundOutcome``.
    public static let tracerRounds = MetricDescription(
        "cloudbus_worker_vm_tracer_rounds_total", .counter, labels: ["outcome"],
        help: "VM sync rounds per host, by outcome: failed rounds (agent, inventory, unknown host) judge nothing.")
    /// `state` values: the raw values of `Inventory.VmState` (e.g. `Stopped`, `Running`).
    public static let tracerVerdicts = MetricDescription(
        "cloudbus_worker_vm_tracer_verdicts_total", .counter, labels: ["state"],
        help: "VM state changes the tracer reported to the VMs' owners, by the state the host showed.")
    /// `guard` values: ``SuppressionGuard``.
    public static let tracerVerdictsSuppressed = MetricDescription(
        "cloudbus_worker_vm_tracer_verdicts_suppressed_total", .counter, labels: ["guard"],
        help: "Verdicts the tracer held back, by the guard that held them: an operation in flight (skip), an "
            + "orphan TTL (orphan), the fleet's shared skip rows (shared_skip).")
    public static let tracerStrangers = MetricDescription(
        "cloudbus_worker_vm_tracer_strangers_total", .counter,
        help: "VMs found running on a host that the inventory does not know (strangerVmFound events sent).")
    /// `reason` values: ``StateSkipReason``.
    public static let tracerStatesSkipped = MetricDescription(
        "cloudbus_worker_vm_tracer_states_skipped_total", .counter, labels: ["reason"],
        help: "VMs left unjudged for a round because the agent reported Suspended (unknown) or a state it is "
            + "not known to send (unmappable): a rising unmappable count means an agent version mismatch.")

    // MARK: VM state handler

    public static let stoppedVerdictsSuppressed = MetricDescription(
        "cloudbus_worker_vm_state_stopped_verdicts_suppressed_total", .counter,
        help: "Stopped verdicts not applied because another host runs the VM (the split-brain guard fired).")
    public static let presenceProbeFailures = MetricDescription(
        "cloudbus_worker_vm_state_presence_probe_failures_total", .counter,
        help: "Stopped verdicts left undecided because asking the cluster's hosts failed; the next sync retries.")

    // MARK: Device info

    public static let deviceInfoFailures = MetricDescription(
        "cloudbus_worker_device_info_sync_failures_total", .counter,
        help: "Device-info syncs that failed (agent unreachable or failed, host gone): addresses not recorded.")
    /// `reason` values: ``DeviceItemSkipReason``.
    public static let deviceInfoItemsSkipped = MetricDescription(
        "cloudbus_worker_device_info_items_skipped_total", .counter, labels: ["reason"],
        help: "Device entries not recorded: malformed in the agent's answer, or unrecorded (unknown MAC, no "
            + "address, null balloon).")

    public static let catalog: [MetricDescription] = [
        skipRegistrySkips, skipRegistryOrphans, skipRegistryOrphansExpired, skipRegistryStoreFailures,
        skipRegistryRoundsAbandoned, skipRegistrySharedCheckFailures, skipRegistryLateSkipsOrphaned,
        tracerRounds, tracerVerdicts, tracerVerdictsSuppressed, tracerStrangers, tracerStatesSkipped,
        stoppedVerdictsSuppressed, presenceProbeFailures,
        deviceInfoFailures, deviceInfoItemsSkipped,
    ]

    /// `outcome` of ``tracerRounds``.
    public enum RoundOutcome: String, Sendable, CaseIterable {
        case ok
        case failed
    }

    /// `guard` of ``tracerVerdictsSuppressed``.
    public enum SuppressionGuard: String, Sendable, CaseIterable {
        /// An operation in flight owns the VM (skip snapshots #1 and #2).
        case skip
        /// The VM's operation ran on a node that left, and the orphan TTL runs.
        case orphan
        /// The fleet's shared skip rows protect the VM (a skip this worker never received).
        case sharedSkip = "shared_skip"
    }

    /// `reason` of ``tracerStatesSkipped``.
    public enum StateSkipReason: String, Sendable, CaseIterable {
        /// Reported Suspended, mapped to Unknown.
        case unknown
        /// A state string that is not one of kvmagent's six.
        case unmappable
    }

    /// `reason` of ``deviceInfoItemsSkipped``.
    public enum DeviceItemSkipReason: String, Sendable, CaseIterable {
        /// Items of the agent's answer that could not be decoded.
        case malformed
        /// Decoded entries that were not recorded (see ``DeviceAddressRecording``).
        case unrecorded
    }
}
