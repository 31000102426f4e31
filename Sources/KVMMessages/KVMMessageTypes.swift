import CloudBus

/// Every KVM host and VM message and reply type: the worker registers them all (`MessageCatalogue.all`) and routes
/// the requests to the KVM handlers. Event contents (`CanonicalEventContent`) travel inside `CanonicalEvent` and
/// are not listed.
public enum KVMMessageTypes {
    public static let all: [any BusMessage.Type] = [
        PingHostMsg.self, PingHostReply.self,
        ReconnectHostMsg.self, ReconnectHostReply.self,
        VmStateChangedOnHostMsg.self, VmStateChangedOnHostReply.self,
        SyncVmDeviceInfoMsg.self, SyncVmDeviceInfoReply.self,
        DestroyVmOnHypervisorMsg.self, VmSyncOnHostMsg.self,
    ]
}
