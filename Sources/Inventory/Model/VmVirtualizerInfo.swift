/// Which virtualizer runs a VM and its version, as the agent reports it after a device-info sync (ZStack's
/// `KvmHypervisorInfoVO` for a VM): e.g. `qemu-kvm` `6.2.0`. Kept per VM; the latest report wins.
public struct VmVirtualizerInfo: Sendable, Hashable, Codable {
    public var vmUuid: String
    public var virtualizer: String
    public var version: String

    public init(vmUuid: String, virtualizer: String, version: String) {
        self.vmUuid = vmUuid
        self.virtualizer = virtualizer
        self.version = version
    }
}
