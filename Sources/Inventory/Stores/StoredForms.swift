import Foundation

// The rules and stored forms both back ends apply the same way: written once here so SQLite and PostgreSQL cannot
// drift apart (their store tests run the same cases against both).

extension VmUpdate {
    /// `before` edited by `change` as ``VmStore/updateVm(uuid:_:)`` promises: the caller's change, then ZStack's
    /// host-release rule (a VM reaching Stopped or Destroyed leaves its host: `hostUuid` moves to `lastHostUuid`),
    /// the uuid kept, the result validated. Errors thrown by `change` pass through unchanged.
    public static func applying(_ change: (inout VmRecord) throws -> Void, to before: VmRecord) throws -> VmUpdate {
        var after = before
        try change(&after)
        if after.state.releasesHost, let host = after.hostUuid {
            after.lastHostUuid = host
            after.hostUuid = nil
        }
        guard after.uuid == before.uuid else {
            throw InventoryError.invalidRecords([InventoryFieldProblem(
                entity: .vm, index: nil, field: "uuid", value: after.uuid,
                reason: "cannot replace the uuid \(before.uuid) of the VM being updated")])
        }
        try after.validate()
        return VmUpdate(before: before, after: after)
    }
}

extension VmNicRecord {
    /// What is wrong with `nics` as the complete NIC list of VM `vmUuid` (each NIC's own rules, and every NIC
    /// naming that VM).
    public static func replacementProblems(_ nics: [VmNicRecord], ofVm vmUuid: String) -> [InventoryFieldProblem] {
        var problems = nics.enumerated().flatMap { $0.element.problems(nicIndex: $0.offset) }
        for (position, nic) in nics.enumerated() where nic.vmUuid != vmUuid {
            problems.append(InventoryFieldProblem(
                entity: .vm, index: nil, field: "nics[\(position)].vmUuid", value: nic.vmUuid,
                reason: "must be the VM whose NICs are replaced (\(vmUuid))"))
        }
        return problems
    }
}

extension OutboxTarget {
    /// The two columns a row keeps: `service` or `event`, and the service id or routing key.
    public var storedColumns: (kind: String, destination: String) {
        switch self {
        case .service(let serviceId): ("service", serviceId)
        case .event(let routingKey): ("event", routingKey)
        }
    }

    /// Reads the two columns back; throws ``InventoryError/storage(operation:path:reason:)`` for an unknown kind.
    public init(storedKind kind: String, destination: String, seq: Int64) throws {
        switch kind {
        case "service": self = .service(destination)
        case "event": self = .event(routingKey: destination)
        default:
            throw InventoryError.storage(operation: "pendingOutbox", path: nil,
                                         reason: "outbox row \(seq) has an unknown kind \(kind)")
        }
    }
}

extension DeviceAddress {
    /// The JSON text a row keeps: sorted keys, so the same address is always the same text.
    public func storedJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension MdsStatus {
    /// A stored MDS status read back; throws ``InventoryError/storage(operation:path:reason:)`` naming the storage
    /// for text that is not a status.
    public init(stored text: String, storage uuid: String) throws {
        guard let status = MdsStatus(rawValue: text) else {
            throw InventoryError.storage(
                operation: "zbsPrimaryStorage(uuid: \(uuid))", path: nil,
                reason: "stored MDS status \"\(text)\" is not one of Connecting, Connected, Disconnected")
        }
        self = status
    }
}

extension InventoryBatch {
    /// The problem with NIC `nic` (at `position` of the VM at `vmIndex`) when the store says it belongs to VM
    /// `storedOwner`: a stored NIC of another VM never silently changes VM on import, only when this batch also gives
    /// that VM a NIC list without it (an explicit move). Nil when there is nothing wrong.
    public func nicOwnershipProblem(vmIndex: Int, vmUuid: String, position: Int, nic: VmNicRecord,
                                    storedOwner: String?) -> InventoryFieldProblem? {
        guard let owner = storedOwner, owner != vmUuid else { return nil }
        let movedExplicitly = nics[owner].map { list in !list.contains { $0.uuid == nic.uuid } }
        guard movedExplicitly != true else { return nil }
        return InventoryFieldProblem(entity: .vm, index: vmIndex, field: "nics[\(position)].uuid", value: nic.uuid,
                                     reason: "is a NIC of VM \(owner) in the inventory")
    }
}
