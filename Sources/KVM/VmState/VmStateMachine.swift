import Inventory

/// ZStack's VM state machine (`VmInstanceState.nextState`): which state an event leads to from each state.
///
/// The table holds exactly ZStack's 112 edges plus the one added by PR #3330 (ZSTAC-80620), Destroying +
/// stopped -> Stopped: a destroy interrupted by a management-node restart leaves the VM in Destroying, the tracer
/// then reports it Stopped, and without this edge the VM stayed in Destroying for good. Every other (state, event)
/// pair is refused with ``VmTransitionError``. Quirks kept on purpose because every management node computes them:
/// Running + volumeMigrating -> **Migrating** (not VolumeMigrating); Paused has no paused self-loop; Destroyed only
/// leaves by stopped (recover); Expunging and Error are terminal.
///
/// Pure and thread-safe. The store runs it inside its update transaction (see ``VmStateTransition``), so the check
/// and the write see the same row.
public enum VmStateMachine {
    /// Every allowed edge: state -> (event -> next state).
    public static let transitions: [VmState: [VmStateEvent: VmState]] = [
        .created: [.starting: .starting, .destroying: .destroying, .destroyed: .destroyed],
        .starting: [
            .running: .running, .stopped: .stopped, .paused: .paused, .destroying: .destroying, .unknown: .unknown,
        ],
        .running: [
            .running: .running, .destroying: .destroying, .stopping: .stopping, .stopped: .stopped,
            .rebooting: .rebooting, .migrating: .migrating, .volumeMigrating: .migrating,
            .volumeRecovering: .volumeRecovering, .pausing: .pausing, .paused: .paused, .crashed: .crashed,
            .noState: .noState, .unknown: .unknown,
        ],
        .stopping: [.stopped: .stopped, .destroying: .destroying, .running: .running, .unknown: .unknown],
        .stopped: [
            .starting: .starting, .stopped: .stopped, .running: .running, .paused: .paused, .destroying: .destroying,
            .volumeMigrating: .volumeMigrating, .volumeRecovering: .volumeRecovering, .noState: .noState,
            .unknown: .unknown,
        ],
        .migrating: [
            .migrated: .running, .volumeMigrated: .running, .running: .running, .paused: .paused, .stopped: .stopped,
            .noState: .noState, .unknown: .unknown, .destroying: .destroying,
        ],
        .volumeMigrating: [
            .volumeMigrated: .stopped, .stopped: .stopped, .noState: .noState, .unknown: .unknown,
            .destroying: .destroying,
        ],
        .volumeRecovering: [
            .starting: .volumeRecovering, .running: .volumeRecovering, .volumeRecovering: .volumeRecovering,
            .volumeRecovered: .running, .stopping: .stopping, .stopped: .stopped, .noState: .noState,
            .unknown: .unknown, .destroying: .destroying,
        ],
        .rebooting: [
            .running: .running, .stopped: .stopped, .noState: .noState, .unknown: .unknown, .destroying: .destroying,
        ],
        .paused: [
            .resuming: .resuming, .stopped: .stopped, .running: .running, .stopping: .stopping,
            .destroying: .destroying, .noState: .noState, .unknown: .unknown, .migrating: .migrating,
            .volumeMigrated: .running,
        ],
        .pausing: [
            .paused: .paused, .destroying: .destroying, .running: .running, .noState: .noState, .unknown: .unknown,
        ],
        .resuming: [
            .running: .running, .destroying: .destroying, .paused: .paused, .noState: .noState, .unknown: .unknown,
        ],
        .unknown: [
            .destroying: .destroying, .stopping: .stopping, .unknown: .unknown, .paused: .paused, .running: .running,
            .migrating: .migrating, .noState: .noState, .stopped: .stopped,
        ],
        .destroying: [
            .unknown: .unknown, .destroyed: .destroyed, .destroying: .destroying, .running: .running,
            .expunging: .expunging,
            // PR #3330 (ZSTAC-80620): the tracer's Stopped verdict for a VM left in Destroying.
            .stopped: .stopped,
        ],
        .destroyed: [.stopped: .stopped],
        .crashed: crashedOrNoStateEdges,
        .noState: crashedOrNoStateEdges,
        .expunging: [:],
        .error: [:],
    ]

    /// Crashed and NoState share their nine edges.
    private static let crashedOrNoStateEdges: [VmStateEvent: VmState] = [
        .running: .running, .unknown: .unknown, .stopping: .stopping, .stopped: .stopped, .rebooting: .rebooting,
        .crashed: .crashed, .destroyed: .destroyed, .noState: .noState, .destroying: .destroying,
    ]

    /// The state `event` leads to from `current`.
    /// - Throws: ``VmTransitionError`` when the table has no such edge.
    public static func nextState(from current: VmState, on event: VmStateEvent) throws(VmTransitionError) -> VmState {
        guard let next = transitions[current]?[event] else {
            throw VmTransitionError(current: current, event: event)
        }
        return next
    }

    /// The number of edges in the table (113).
    public static var edgeCount: Int { transitions.values.reduce(0) { $0 + $1.count } }

    /// ZStack's static "intermediate" list, which the abnormal-lifecycle matcher reads: Starting, Stopping,
    /// Rebooting, **Destroying**, Migrating, Pausing, Resuming, VolumeMigrating, VolumeRecovering.
    public static var intermediateStates: Set<VmState> { VmState.intermediateStates }
}
