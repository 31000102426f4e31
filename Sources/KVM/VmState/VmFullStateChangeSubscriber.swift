import CloudBus
import Inventory
import KVMMessages
import Logging
import Primitives

/// Keeps this worker's inventory in step with VM state changes made by other management nodes
/// (`/vm/state/change`, ZStack's `VM_FULL_STATE_CHANGED_PATH`), and asks for a device-info sync after a start,
/// reboot, resume or create (ZSTAC-67275).
///
/// The inventory follows the event without consulting the state machine: the node that fired it already applied
/// the transition to the authoritative database, and refusing it here would only leave this copy wrong.
/// - Known VM: `state` becomes `newState`; with an `inventory`, `hostUuid`, `lastHostUuid` and `clusterUuid` are
///   copied from it, an absent key meaning null (Gson omits null fields), and `type` when present.
/// - Unknown VM with an `inventory`: inserted from it.
/// - Unknown VM without an `inventory`, or a state name this worker does not know: nothing is stored (logged).
///
/// Device-info sync: when `newState` is Running and `oldState` is Starting, Rebooting, Resuming or Created, a
/// fire-and-forget `SyncVmDeviceInfoMsg {vm, host}` goes to the `host` service of the host's owner, with the host
/// taken from the event's `inventory` (from the stored VM when the event has none); none without a host. Every
/// worker receives the event, so only the **VM's owner on the ring** sends it: N workers do not send N copies.
/// When the host's owner is this worker itself and its inventory does not know the host, nothing is sent: the
/// request could only be refused (unknown host) and dead-lettered.
/// (The node that fired the event does not see it; when this worker makes the change itself, its
/// ``VmStateChangedOnHostHandler`` sends the sync.)
///
/// Events of one VM are handled one at a time on the VM uuid, the key of ``VmStateChangedOnHostHandler`` too.
/// Idempotent: replaying an event writes the same row and at most repeats an idempotent sync.
public struct VmFullStateChangeSubscriber: CanonicalEventSubscriber {
    public let vms: any VmStore
    public let membership: ClusterMembership
    /// This worker's hosts, to avoid sending itself a sync it would refuse; nil: every sync is sent.
    public let hosts: (any HostStore)?
    private let logger: Logger

    public init(vms: any VmStore, membership: ClusterMembership, hosts: (any HostStore)? = nil,
                logger: Logger = Logger(label: "cloudbus.kvm.vm-state-events")) {
        self.vms = vms
        self.membership = membership
        self.hosts = hosts
        self.logger = logger
    }

    public var paths: Set<String> { [VmFullStateChangedData.path] }

    public func resourceKey(for event: CanonicalEvent) -> String {
        event.content?["vmUuid"]?.stringValue ?? "event:\(VmFullStateChangedData.path)"
    }

    /// - Throws: `DecodingError` when the content is not `VmStateChangedData`; ``InventoryError`` when the store
    ///   fails or the inventory holds invalid uuids (nothing is stored then).
    public func handle(_ event: CanonicalEvent, context: HandlerContext) async throws -> [OutboundMessage] {
        guard event.path == VmFullStateChangedData.path else { return [] }
        let data = try event.content(as: VmFullStateChangedData.self)
        var logger = logger
        logger[metadataKey: "vm"] = "\(data.vmUuid)"
        guard let newState = VmState(rawValue: data.newState) else {
            logger.warning("VM state change event with an unknown state ignored", metadata: [
                "newState": "\(data.newState)",
            ])
            return []
        }
        let oldState = data.oldState.flatMap(VmState.init(rawValue:))
        let inventory = data.inventory?.objectValue

        let stored: VmRecord?
        if try await vms.vm(uuid: data.vmUuid) != nil {
            stored = try await vms.updateVm(uuid: data.vmUuid) { vm in
                vm.state = newState
                if let inventory { Self.copy(inventory, into: &vm) }
            }.after
        } else if let inventory {
            var vm = VmRecord(uuid: data.vmUuid, state: newState)
            Self.copy(inventory, into: &vm)
            try await vms.upsertVms([vm])
            stored = vm
        } else {
            logger.info("state change of a VM unknown to this worker ignored (the event carries no inventory)")
            stored = nil
        }

        let hostUuid: String? =
            if let inventory { inventory["hostUuid"]?.stringValue } else { stored?.hostUuid }
        guard membership.owner(of: data.vmUuid) == membership.selfNode,
            let sync = try VmDeviceInfoTrigger.message(
                vmUuid: data.vmUuid, from: oldState, to: newState, hostUuid: hostUuid, membership: membership)
        else { return [] }
        if let hosts, let hostUuid, membership.owner(of: hostUuid) == membership.selfNode,
           try await hosts.host(uuid: hostUuid) == nil {
            logger.info("no device-info sync: the host is this worker's to serve but not in its inventory",
                        metadata: ["host": "\(hostUuid)"])
            return []
        }
        return [sync]
    }

    /// Copies the fields this worker keeps from a `VmInstanceInventory` object. Gson omits null fields, so an
    /// absent host or cluster is null; `type` is never null in ZStack, so an absent one keeps the stored type.
    static func copy(_ inventory: [String: JSONValue], into vm: inout VmRecord) {
        vm.hostUuid = inventory["hostUuid"]?.stringValue
        vm.lastHostUuid = inventory["lastHostUuid"]?.stringValue
        vm.clusterUuid = inventory["clusterUuid"]?.stringValue
        if let type = inventory["type"]?.stringValue { vm.type = VmType(type) }
    }
}
