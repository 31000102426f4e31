/// Hosts and VMs to be stored together, in file order (indexes in errors refer to positions in these arrays).
public struct InventoryBatch: Sendable, Hashable {
    public var hosts: [HostRecord]
    public var vms: [VmRecord]
    /// The complete NIC list of each VM (by uuid) that gives one; the stored NICs of other VMs are left as they
    /// are. Every key must be the uuid of a VM of ``vms``.
    public var nics: [String: [VmNicRecord]]

    public init(hosts: [HostRecord] = [], vms: [VmRecord] = [], nics: [String: [VmNicRecord]] = [:]) {
        self.hosts = hosts
        self.vms = vms
        self.nics = nics
    }

    /// Every record-level problem (field rules and uuids repeated inside the batch), with entry indexes, in
    /// order: hosts first, by index. Host references of VMs need the store and are checked by
    /// ``InventoryBatchStore/importBatch(_:)``.
    public func problems() -> [InventoryFieldProblem] {
        var found: [InventoryFieldProblem] = []
        var seenHosts: [String: Int] = [:]
        for (index, host) in hosts.enumerated() {
            found += host.problems(index: index)
            if let repeated = Self.repeatedUuid(.host, host.uuid, index: index, seen: &seenHosts) {
                found.append(repeated)
            }
        }
        var seenVms: [String: Int] = [:]
        for (index, vm) in vms.enumerated() {
            found += vm.problems(index: index)
            if let repeated = Self.repeatedUuid(.vm, vm.uuid, index: index, seen: &seenVms) { found.append(repeated) }
        }
        found += nicProblems(vmIndexes: seenVms)
        return found
    }

    /// NIC rules (reported on their VM's entry, `vms[3].nics[0].mac`): each NIC is valid and names its VM, the VM
    /// is in the batch, and a NIC uuid appears once in the whole batch.
    func nicProblems(vmIndexes: [String: Int]) -> [InventoryFieldProblem] {
        var found: [InventoryFieldProblem] = []
        var seenNics: [String: String] = [:]
        for vmUuid in nics.keys.sorted() {
            let index = vmIndexes[vmUuid]
            if index == nil {
                found.append(InventoryFieldProblem(
                    entity: .vm, index: nil, field: "nics", value: vmUuid, reason: "names no VM of this batch"))
            }
            for (position, nic) in (nics[vmUuid] ?? []).enumerated() {
                found += nic.problems(index: index, nicIndex: position)
                if nic.vmUuid != vmUuid {
                    found.append(InventoryFieldProblem(
                        entity: .vm, index: index, field: "nics[\(position)].vmUuid", value: nic.vmUuid,
                        reason: "must be the uuid of the VM listing the NIC (\(vmUuid))"))
                }
                if let owner = seenNics[nic.uuid] {
                    found.append(InventoryFieldProblem(
                        entity: .vm, index: index, field: "nics[\(position)].uuid", value: nic.uuid,
                        reason: "is already a NIC of VM \(owner) in this batch"))
                } else {
                    seenNics[nic.uuid] = vmUuid
                }
            }
        }
        return found
    }

    /// The problem of entry `index` repeating a uuid already seen at an earlier index, or nil (and `uuid` is
    /// remembered) when it is the first.
    static func repeatedUuid(
        _ entity: InventoryEntity, _ uuid: String, index: Int, seen: inout [String: Int]
    ) -> InventoryFieldProblem? {
        if let first = seen[uuid] {
            return InventoryFieldProblem(
                entity: entity, index: index, field: "uuid", value: uuid,
                reason: "repeats \(entity.listKey)[\(first)].uuid")
        }
        seen[uuid] = index
        return nil
    }
}
