import CloudBus

/// `cloudbus.worker.VmSyncOnHostMsg`: this worker's own request to run the VM tracer's sync for one host.
///
/// A successful `PingHostMsg` publishes it (when `kvm.vmSyncOnHostPing` is true) to the worker's own
/// `host.<node>` queue instead of syncing inline: the ping answers at once (ZStack does not let the sync delay
/// it), the request survives a crash like any other message, and syncs of one host run one at a time on their
/// own key, never concurrently and never blocking the host's pings. No reply.
public struct VmSyncOnHostMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.VmSyncOnHostMsg"

    public var hostUuid: String

    public init(hostUuid: String) {
        self.hostUuid = hostUuid
    }
}
