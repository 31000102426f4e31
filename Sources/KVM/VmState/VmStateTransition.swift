import CloudBus
import Inventory
import KVMMessages

/// Changes a VM's state the way ZStack's `changeVmStateInDb` does, and builds what it fires afterwards.
///
/// The state machine runs inside the store's update transaction on the row as stored at that instant, so a change
/// that another writer made meanwhile is never overwritten by a transition computed from an older state: the
/// transition is checked against what is really there, or refused with ``VmTransitionError`` and nothing written.
/// The host-release rule (Stopped or Destroyed move `hostUuid` to `lastHostUuid`) is the store's.
public struct VmStateTransition: Sendable {
    public let vms: any VmStore
    public let membership: ClusterMembership

    public init(vms: any VmStore, membership: ClusterMembership) {
        self.vms = vms
        self.membership = membership
    }

    /// Applies `event` to the VM, after `host` has been applied to its `hostUuid`, in one transaction.
    /// - Throws: ``VmTransitionError`` (with the VM uuid) when `event` has no edge from the stored state;
    ///   ``InventoryError/notFound(entity:uuid:)`` when the VM is gone; other ``InventoryError``s from the store.
    public func apply(_ event: VmStateEvent, to vmUuid: String, host: VmHostChange = .keep) async throws -> VmUpdate {
        try await vms.updateVm(uuid: vmUuid, Self.change(event, vmUuid: vmUuid, host: host))
    }

    /// ``apply(_:to:host:)`` that also writes what the change announces to the outbox under `outboxKey`, in the same
    /// transaction: `announcing` builds the messages from the rows before and after (fast; it runs inside the
    /// transaction). Returns the update and those messages, each tagged with its outbox row, so the worker can
    /// publish them and drop the rows once confirmed — or publish them again if that never happened.
    public func apply(
        _ event: VmStateEvent, to vmUuid: String, host: VmHostChange = .keep, outboxKey: String,
        announcing: @escaping @Sendable (VmUpdate) throws -> [OutboundMessage]
    ) async throws -> (update: VmUpdate, messages: [OutboundMessage]) {
        let (update, rows) = try await vms.updateVm(
            uuid: vmUuid, outboxKey: outboxKey, Self.change(event, vmUuid: vmUuid, host: host),
            messages: { try announcing($0).map(OutboxMessage.init) })
        return (update, rows.map(OutboundMessage.init(outbox:)))
    }

    private static func change(
        _ event: VmStateEvent, vmUuid: String, host: VmHostChange
    ) -> @Sendable (inout VmRecord) throws -> Void {
        { vm in
            guard let next = VmStateMachine.transitions[vm.state]?[event] else {
                throw VmTransitionError(current: vm.state, event: event, vmUuid: vmUuid)
            }
            switch host {
            case .keep: break
            case .move(let hostUuid): vm.hostUuid = hostUuid
            case .clear: vm.hostUuid = nil
            }
            vm.state = next
        }
    }

    /// `/vm/state/change` for `update`, fired by this node, or nil for a self-loop (ZStack fires it only when the
    /// state really changed).
    public func fullStateChangedEvent(_ update: VmUpdate) throws -> OutboundMessage? {
        guard update.stateChanged else { return nil }
        let data = VmFullStateChangedData(
            vmUuid: update.after.uuid, oldState: update.before.state.rawValue, newState: update.after.state.rawValue,
            inventory: VmInventoryJSON.of(update.after))
        return try .event(data, from: membership.selfNode)
    }

    /// `/vmTracer/vmStateChanged` for a verdict of `reportingHost` that produced `update`, or nil when the verdict
    /// changed nothing (neither state nor host).
    public func tracerStateChangedEvent(_ update: VmUpdate, reportingHost: String) throws -> OutboundMessage? {
        guard update.stateChanged || update.before.hostUuid != update.after.hostUuid else { return nil }
        let data = VmTracerStateChangedData(
            vmUuid: update.after.uuid, from: update.before.state.rawValue, to: update.after.state.rawValue,
            originalHostUuid: update.before.hostUuid, currentHostUuid: reportingHost)
        return try .event(data, from: membership.selfNode)
    }

    /// The device-info sync `update` calls for (see ``VmDeviceInfoTrigger``), or nil.
    public func deviceInfoSync(_ update: VmUpdate) throws -> OutboundMessage? {
        guard update.stateChanged else { return nil }
        return try VmDeviceInfoTrigger.message(
            vmUuid: update.after.uuid, from: update.before.state, to: update.after.state,
            hostUuid: update.after.hostUuid, membership: membership)
    }
}
