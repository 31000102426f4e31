/// Hosts and VMs to be stored together, in file order (indexes in errors refer to positions in these arrays).
public struct InventoryBatch: Sendable, Hashable {
    public var hosts: [HostRecord]
    public var vms: [VmRecord]
    /// ZBS primary storages, each replaced whole by an import.
    public var zbsPrimaryStorages: [ZbsPrimaryStorageRecord]

    public init(hosts: [HostRecord] = [], vms: [VmRecord] = [], zbsPrimaryStorages: [ZbsPrimaryStorageRecord] = []) {
        self.hosts = hosts
        self.vms = vms
        self.zbsPrimaryStorages = zbsPrimaryStorages
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
        var seenStorages: [String: Int] = [:]
        for (index, storage) in zbsPrimaryStorages.enumerated() {
            found += storage.problems(index: index)
            if let repeated = Self.repeatedUuid(.zbsPrimaryStorage, storage.uuid, index: index, seen: &seenStorages) {
                found.append(repeated)
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
