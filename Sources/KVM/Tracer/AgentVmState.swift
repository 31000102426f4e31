import Inventory

/// How kvmagent's state strings (`KVMConstant.KvmVmState`) read as ZStack VM states, for the tracer.
///
/// Running → Running, Shutdown → Stopped, Paused → Paused, Crashed → Crashed, NoState → NoState, Suspended →
/// Unknown (ZStack's "anything else"). A string the agent is not known to send maps to nil: ZStack's `valueOf`
/// would throw and lose the whole host round; this worker skips only that VM (see ``VmSyncOnHostHandler``).
public enum AgentVmState {
    /// The VM state `agentState` stands for, or nil when the string is not one of kvmagent's six.
    public static func vmState(fromAgent agentState: String) -> VmState? {
        switch agentState {
        case "Running": .running
        case "Shutdown": .stopped
        case "Paused": .paused
        case "Crashed": .crashed
        case "NoState": .noState
        case "Suspended": .unknown
        default: nil
        }
    }

    /// The states a host report may carry into a comparison (ZStack's `reportVmState` check). Unknown is not one:
    /// a VM the agent reports Suspended is left out of the round.
    public static let traceableStates: Set<VmState> = [.running, .stopped, .paused, .crashed, .noState]
}
