import CloudBus
import Inventory
import KVMMessages

/// When a VM has just become Running because it was started, rebooted, resumed or created, ZStack (PR for
/// ZSTAC-67275) asks its host to report the guest's device addresses: `SyncVmDeviceInfoMsg {vm, host}` to the
/// `host` service of the host's owner, fire-and-forget. The VM operation never waits for it and a failed sync only
/// logs on the host side.
public enum VmDeviceInfoTrigger {
    /// The states whose move to Running triggers the sync.
    public static let triggeringStates: Set<VmState> = [.starting, .rebooting, .resuming, .created]

    /// Whether a change from `oldState` to `newState` on `hostUuid` calls for a sync (never without a host).
    public static func applies(from oldState: VmState?, to newState: VmState, hostUuid: String?) -> Bool {
        guard newState == .running, let oldState, triggeringStates.contains(oldState) else { return false }
        return hostUuid != nil
    }

    /// The sync request for `vmUuid` on `hostUuid`, addressed to the host's owner on the ring, or nil when the
    /// change does not call for one.
    public static func message(
        vmUuid: String, from oldState: VmState?, to newState: VmState, hostUuid: String?,
        membership: ClusterMembership
    ) throws -> OutboundMessage? {
        guard applies(from: oldState, to: newState, hostUuid: hostUuid), let hostUuid else { return nil }
        return try OutboundMessage.oneWay(
            SyncVmDeviceInfoMsg(vmInstanceUuid: vmUuid, hostUuid: hostUuid),
            to: membership.serviceID(ServiceID.hostService, for: hostUuid))
    }
}
