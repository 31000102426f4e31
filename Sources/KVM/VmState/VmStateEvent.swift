import Inventory

/// The 20 events of ZStack's `VmInstanceStateEvent`, with ZStack's spellings as raw values: what happened to a VM,
/// which ``VmStateMachine`` turns into its next state.
///
/// - User operations: starting, stopping, migrating, migrated, destroying, rebooting, destroyed, expunging,
///   pausing, resuming, volumeMigrating, volumeMigrated, volumeRecovering, volumeRecovered.
/// - Internal: unknown.
/// - Results of an operation or of a host's report: running, stopped, paused, crashed, noState.
public enum VmStateEvent: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case starting
    case stopping
    case migrating
    case migrated
    case destroying
    case rebooting
    case destroyed
    case expunging
    case pausing
    case resuming
    case volumeMigrating
    case volumeMigrated
    case volumeRecovering
    case volumeRecovered
    case unknown
    case running
    case stopped
    case paused
    case crashed
    case noState

    public var description: String { rawValue }
}

extension VmState {
    /// The event that leads into this state (ZStack's "driven event"), nil for Created and Error, which no event
    /// leads into.
    public var drivenEvent: VmStateEvent? {
        switch self {
        case .created, .error: return nil
        case .starting: return .starting
        case .running: return .running
        case .stopping: return .stopping
        case .stopped: return .stopped
        case .rebooting: return .rebooting
        case .destroying: return .destroying
        case .destroyed: return .destroyed
        case .migrating: return .migrating
        case .expunging: return .expunging
        case .pausing: return .pausing
        case .paused: return .paused
        case .resuming: return .resuming
        case .volumeMigrating: return .volumeMigrating
        case .volumeRecovering: return .volumeRecovering
        case .noState: return .noState
        case .unknown: return .unknown
        case .crashed: return .crashed
        }
    }
}
