import CloudBus
import Inventory
import KVMMessages
import LiveSettings

/// ZStack's `KvmVmSyncPingTask` as a `KVMPingAgentNoFailureExtensionPoint`: after each successful ping, when
/// `kvm.vmSyncOnHostPing` is true, ask for a VM sync of the host. It does not sync inline: it returns a
/// ``VmSyncOnHostMsg`` to this worker's own `host.<node>` service, published with the ping's reply, so the ping
/// answers at once and the sync runs later on its own key (``VmSyncOnHostHandler``). Syncs on host connect and
/// reconnect are not this trigger's (and are not gated by the setting).
public struct VmSyncAfterPing: Sendable {
    public let selfNode: NodeUUID
    public let settings: VmTracerSettings

    public init(selfNode: NodeUUID, settings: VmTracerSettings) {
        self.selfNode = selfNode
        self.settings = settings
    }

    /// The messages to publish after `host` answered a ping: one sync request, or none when the setting is off.
    public func messages(after host: HostRecord) -> [OutboundMessage] {
        guard settings.syncOnPing.value else { return [] }
        let service = ServiceID(service: ServiceID.hostService, node: selfNode)
        guard let request = try? OutboundMessage.oneWay(
            VmSyncOnHostMsg(hostUuid: host.uuid), to: service, timeout: settings.syncRequestTimeout)
        else { return [] }  // a message of one string field always encodes
        return [request]
    }

    /// ``messages(after:)`` in the shape of ``PingHostHandler/onPingSucceeded``.
    public var onPingSucceeded: @Sendable (HostRecord) async -> [OutboundMessage] {
        let trigger = self
        return { host in trigger.messages(after: host) }
    }
}
