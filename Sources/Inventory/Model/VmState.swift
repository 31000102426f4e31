/// The 19 VM states of ZStack's `VmInstanceState`, with ZStack's spellings as raw values.
///
/// The store keeps the state and nothing more: which transitions are allowed is the KVM module's state machine,
/// which runs inside ``VmStore/updateVm(uuid:_:)`` so the check and the write are one transaction.
public enum VmState: String, Sendable, Hashable, Codable, CaseIterable {
    case created = "Created"
    case starting = "Starting"
    case running = "Running"
    case stopping = "Stopping"
    case stopped = "Stopped"
    case rebooting = "Rebooting"
    case destroying = "Destroying"
    case destroyed = "Destroyed"
    case migrating = "Migrating"
    case expunging = "Expunging"
    case pausing = "Pausing"
    case paused = "Paused"
    case resuming = "Resuming"
    case volumeMigrating = "VolumeMigrating"
    case volumeRecovering = "VolumeRecovering"
    case error = "Error"
    case noState = "NoState"
    case unknown = "Unknown"
    case crashed = "Crashed"

    /// ZStack's static "intermediate" list, used by the abnormal-lifecycle matcher. Destroying is in it.
    public static let intermediateStates: Set<VmState> = [
        .starting, .stopping, .rebooting, .destroying, .migrating, .pausing, .resuming,
        .volumeMigrating, .volumeRecovering,
    ]

    public var isIntermediate: Bool { Self.intermediateStates.contains(self) }

    /// States in which ZStack clears `hostUuid` (moving it to `lastHostUuid`) when it writes the state.
    public var releasesHost: Bool { self == .stopped || self == .destroyed }
}
