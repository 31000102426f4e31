import CloudBus

/// `org.zstack.header.vm.VmStateChangedOnHostMsg`: a host says a VM is in a state the cloud did not expect.
///
/// Sent by the VM tracer (`fromSync = true`, after comparing a host's report with the inventory) and by the agent's
/// push path (`fromSync = false`) to `vmInstance.<node>` where `<node>` owns `vmInstanceUuid` on the hash ring;
/// answered with ``VmStateChangedOnHostReply``. States travel as ZStack's `VmInstanceState` names.
public struct VmStateChangedOnHostMsg: BusMessage, Hashable {
    public static let className = "org.zstack.header.vm.VmStateChangedOnHostMsg"

    public var vmInstanceUuid: String
    public var hostUuid: String
    /// What the host reports (`Running`, `Stopped`, `Paused`, `Crashed`, `NoState`, `Unknown`).
    public var stateOnHost: String
    /// The inventory's state when the tracer compared; nil for a VM the host runs but the inventory did not
    /// expect there, which turns off the handler's staleness check.
    public var vmStateAtTracingMoment: String?
    public var fromSync: Bool

    public init(vmInstanceUuid: String, hostUuid: String, stateOnHost: String,
                vmStateAtTracingMoment: String?, fromSync: Bool) {
        self.vmInstanceUuid = vmInstanceUuid
        self.hostUuid = hostUuid
        self.stateOnHost = stateOnHost
        self.vmStateAtTracingMoment = vmStateAtTracingMoment
        self.fromSync = fromSync
    }

    enum CodingKeys: String, CodingKey {
        case vmInstanceUuid, hostUuid, stateOnHost, vmStateAtTracingMoment, fromSync
    }

    /// An absent `fromSync` takes Java's initialiser (false).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        vmInstanceUuid = try container.decode(String.self, forKey: .vmInstanceUuid)
        hostUuid = try container.decode(String.self, forKey: .hostUuid)
        stateOnHost = try container.decode(String.self, forKey: .stateOnHost)
        vmStateAtTracingMoment = try container.decodeIfPresent(String.self, forKey: .vmStateAtTracingMoment)
        fromSync = try container.decodeIfPresent(Bool.self, forKey: .fromSync) ?? false
    }
}

/// `org.zstack.header.vm.VmStateChangedOnHostReply`: a plain reply (success, or the reason the change was refused).
public struct VmStateChangedOnHostReply: BusReply, Hashable {
    public static let className = "org.zstack.header.vm.VmStateChangedOnHostReply"

    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    public init(error: ErrorCode? = nil) {
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
