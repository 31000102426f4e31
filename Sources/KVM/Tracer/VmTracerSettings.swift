import CloudBus
import LiveSettings

/// How the VM tracer runs: ZStack's runtime switches (as ``LiveSetting``s, read at the moment they decide) and the
/// agent call's budgets.
public struct VmTracerSettings: Sendable {
    /// `kvm.vmSyncOnHostPing`: a successful ping asks for a sync of the host. Default: true.
    public let syncOnPing: LiveSetting<Bool>
    /// `VM_TRACER_ON`: when false a sync compares nothing and sends no verdict (the shutdown counter still runs, as
    /// in ZStack, where it precedes the switch). Default: true.
    public let tracerOn: LiveSetting<Bool>
    /// Budget of one `/vm/vmsync` round trip, cut to the message deadline. Default: 60 s.
    public var agentTimeout: Duration
    /// TCP connect budget of the agent call. Default: 5 s.
    public var connectTimeout: Duration
    /// `timeout` of each ``VmSyncOnHostMsg`` the ping trigger sends: a request for a sync that waited longer than
    /// this in the queue is dropped rather than run late (the next ping asks again). Default: 120 s.
    public var syncRequestTimeout: Duration

    public init(
        syncOnPing: LiveSetting<Bool> = VmTracerSettings.syncOnPingSetting(),
        tracerOn: LiveSetting<Bool> = VmTracerSettings.tracerOnSetting(),
        agentTimeout: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(5),
        syncRequestTimeout: Duration = .seconds(120)
    ) {
        self.syncOnPing = syncOnPing
        self.tracerOn = tracerOn
        self.agentTimeout = agentTimeout
        self.connectTimeout = connectTimeout
        self.syncRequestTimeout = syncRequestTimeout
    }

    /// `kvm.vmSyncOnHostPing`, boolean.
    public static func syncOnPingSetting(default initial: Bool = true) -> LiveSetting<Bool> {
        .boolean(name: "kvm.vmSyncOnHostPing", default: initial)
    }

    /// `VM_TRACER_ON` (a ZStack property, not a global config), boolean, named `vm.tracer.on` here.
    public static func tracerOnSetting(default initial: Bool = true) -> LiveSetting<Bool> {
        .boolean(name: "vm.tracer.on", default: initial)
    }
}
