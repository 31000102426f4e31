import CloudBus

/// `org.zstack.header.vm.SyncVmDeviceInfoMsg`: fetch the guest bus addresses of a VM's devices from its host's
/// agent and record them. Sent to `host.<node>` where `<node>` owns `hostUuid`; answered with
/// ``SyncVmDeviceInfoReply``. ZStack sends it fire-and-forget after a VM becomes Running (start, reboot, resume,
/// create), and before snapshot groups.
public struct SyncVmDeviceInfoMsg: BusMessage, Hashable {
    public static let className = "org.zstack.header.vm.SyncVmDeviceInfoMsg"

    public var vmInstanceUuid: String
    public var hostUuid: String

    public init(vmInstanceUuid: String, hostUuid: String) {
        self.vmInstanceUuid = vmInstanceUuid
        self.hostUuid = hostUuid
    }
}

/// `org.zstack.header.vm.SyncVmDeviceInfoReply`: success, or `SYS.1006` with the agent's error, or the transport
/// error of the agent call.
public struct SyncVmDeviceInfoReply: BusReply, Hashable {
    public static let className = "org.zstack.header.vm.SyncVmDeviceInfoReply"

    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    public init(error: ErrorCode? = nil) {
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
