/// The VMs the cloud expects: their state and host, read by the VM tracer and written by the VM state machine.
///
/// All methods may be called concurrently from any task; each one is atomic on its own. Failures are
/// ``InventoryError`` values, except errors thrown by the caller's closure in ``updateVm(uuid:_:)``, which are
/// rethrown unchanged.
public protocol VmStore: Sendable {
    /// The VM with this uuid, or nil when the inventory does not know it (the tracer's "stranger" case).
    func vm(uuid: String) async throws -> VmRecord?

    /// Inserts the VMs that are new and replaces every field of those that exist, all in one transaction.
    ///
    /// Every record is validated first (``VmRecord/problems(index:)``); if any is invalid the store throws
    /// ``InventoryError/invalidRecords(_:)`` and keeps nothing. Host uuids are not checked against the host table
    /// here (the import does check them). A uuid given twice keeps the later entry.
    func upsertVms(_ vms: [VmRecord]) async throws

    /// The VMs the management side expects on host `hostUuid`: the tracer's `mgmtSideStates`, ordered by uuid.
    ///
    /// This is ZStack's query `hostUuid = H OR (hostUuid IS NULL AND lastHostUuid = H) AND state NOT IN
    /// (Destroyed, Destroying) [AND type NOT IN unsupported]` read with SQL precedence (AND binds tighter than OR),
    /// so the state and type filters apply to the last-host branch only:
    /// - every VM whose `hostUuid` is H, in **any** state (Destroying, Destroyed, Expunging included) and of
    ///   **any** type, even one listed in `excludingTypes`;
    /// - plus every VM whose `hostUuid` is nil and `lastHostUuid` is H, unless its state is Destroyed or
    ///   Destroying or its type is in `excludingTypes`.
    ///
    /// Consequence (kept on purpose, it is what a Java management node computes): a Stopped or Starting VM whose
    /// last host was H is expected on H even while it is being started on another host. `excludingTypes` is the
    /// set ZStack collects from `CollectVmTracerUnsupportedVmTypeExtensionPoint`.
    func expectedVms(onHost hostUuid: String, excludingTypes: Set<VmType>) async throws -> [VmRecord]

    /// Reads the VM, lets `change` edit it, applies ZStack's host-release rule and writes it back, all in one
    /// transaction (ZStack's `changeVmStateInDb` batch), and returns the row before and after.
    ///
    /// The host-release rule runs after `change`: if the new state is Stopped or Destroyed and `hostUuid` is set,
    /// `hostUuid` moves to `lastHostUuid` and becomes nil. `change` runs inside the transaction, so it must be fast
    /// and must not block; it is where the VM state machine checks that the transition from the current state is
    /// allowed, and a throw there aborts the update and is rethrown unchanged. `change` must not alter `uuid`
    /// (``InventoryError/invalidRecords(_:)``); the edited record is validated like an upsert.
    ///
    /// Throws ``InventoryError/notFound(entity:uuid:)`` when the VM is unknown.
    func updateVm(uuid: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void) async throws -> VmUpdate

    /// ``updateVm(uuid:_:)`` that also writes the messages the change causes to the outbox (``OutboxStore``) under
    /// `outboxKey`, in the same transaction: the change and its announcements are kept or lost together.
    /// `messages` runs inside the transaction with the rows before and after (fast, non-blocking); a throw there
    /// aborts both and is rethrown unchanged.
    func updateVm(
        uuid: String, outboxKey: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void,
        messages: @escaping @Sendable (VmUpdate) throws -> [OutboxMessage]
    ) async throws -> (update: VmUpdate, outbox: [OutboxEntry])
}

extension VmStore {
    /// ``expectedVms(onHost:excludingTypes:)`` with no excluded types.
    public func expectedVms(onHost hostUuid: String) async throws -> [VmRecord] {
        try await expectedVms(onHost: hostUuid, excludingTypes: [])
    }

    /// Writes a new state and, optionally, a new host in one transaction, applying the host-release rule of
    /// ``updateVm(uuid:_:)``: for example `updateVmState(uuid:to: .stopped)` on a VM on H leaves hostUuid nil and
    /// lastHostUuid H. Does not check the transition; use ``updateVm(uuid:_:)`` to check it atomically.
    @discardableResult
    public func updateVmState(uuid: String, to state: VmState, host: VmHostChange = .keep) async throws -> VmUpdate {
        try await updateVm(uuid: uuid) { vm in
            switch host {
            case .keep: break
            case .move(let hostUuid): vm.hostUuid = hostUuid
            case .clear: vm.hostUuid = nil
            }
            vm.state = state
        }
    }
}
