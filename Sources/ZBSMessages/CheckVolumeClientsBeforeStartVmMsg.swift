import CloudBus

/// `cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmMsg`: **Ours.** The anti-split-brain check before a VM start
/// (ZStack `beforeStartVmOnKvm`): fails with "find active clients for volume[uuid:…, installPath …, client:<ip>]" when
/// a host other than `destinationHostIp` holds one of the non-shareable volumes open, or with the aggregated MDS error.
/// Executor key: the VM uuid.
public struct CheckVolumeClientsBeforeStartVmMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmMsg"

    public var vmInstanceUuid: String
    /// Management IP of the host the VM starts on.
    public var destinationHostIp: String
    public var volumes: [ZbsVmVolume]

    public init(vmInstanceUuid: String, destinationHostIp: String, volumes: [ZbsVmVolume]) {
        self.vmInstanceUuid = vmInstanceUuid
        self.destinationHostIp = destinationHostIp
        self.volumes = volumes
    }
}

/// `cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmReply`: Success: the VM may start.
public struct CheckVolumeClientsBeforeStartVmReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmReply"

    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(error: ErrorCode? = nil) {
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
