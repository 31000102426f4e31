import CloudBus

/// `org.zstack.header.vm.DestroyVmOnHypervisorMsg`: the VM handler's answer to a host running a VM the cloud
/// has destroyed (`VmRunningFromDestroyed`): ask that host's service to destroy it there. Sent to
/// `host.<node>` where `<node>` owns `hostUuid`. The inventory is not changed.
public struct DestroyVmOnHypervisorMsg: BusMessage, Hashable {
    public static let className = "org.zstack.header.vm.DestroyVmOnHypervisorMsg"

    public var vmInstanceUuid: String
    public var hostUuid: String

    public init(vmInstanceUuid: String, hostUuid: String) {
        self.vmInstanceUuid = vmInstanceUuid
        self.hostUuid = hostUuid
    }
}
