import GRDB

extension SQLiteInventory: InventoryBatchStore {
    public func importBatch(_ batch: InventoryBatch) async throws -> InventoryImportSummary {
        let problems = batch.problems()
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        return try await write("importBatch(hosts: \(batch.hosts.count), vms: \(batch.vms.count))") { db in
            // Host references are checked against the batch and the store inside the transaction, so a
            // concurrent writer cannot slip between the check and the upsert.
            let batchHosts = Set(batch.hosts.map(\.uuid))
            var knownHosts: [String: Bool] = [:]
            func hostExists(_ uuid: String) throws -> Bool {
                if batchHosts.contains(uuid) { return true }
                if let known = knownHosts[uuid] { return known }
                let known = try SQLiteRows.exists(db, table: "hosts", uuid: uuid)
                knownHosts[uuid] = known
                return known
            }
            var missing: [InventoryFieldProblem] = []
            // A stored NIC of another VM never silently changes VM on import (InventoryBatch.nicOwnershipProblem).
            let owners = try db.cachedStatement(sql: "SELECT vmUuid FROM vm_nics WHERE uuid = ?")
            for (vmIndex, vm) in batch.vms.enumerated() {
                for (position, nic) in (batch.nics[vm.uuid] ?? []).enumerated() {
                    if let problem = batch.nicOwnershipProblem(
                        vmIndex: vmIndex, vmUuid: vm.uuid, position: position, nic: nic,
                        storedOwner: try String.fetchOne(owners, arguments: [nic.uuid]))
                    {
                        missing.append(problem)
                    }
                }
            }
            for (index, vm) in batch.vms.enumerated() {
                for (field, reference) in [("hostUuid", vm.hostUuid), ("lastHostUuid", vm.lastHostUuid)] {
                    if let reference, try !hostExists(reference) {
                        missing.append(InventoryFieldProblem(
                            entity: .vm, index: index, field: field, value: reference,
                            reason: "names no host of this file or of the inventory"))
                    }
                }
            }
            guard missing.isEmpty else { throw InventoryError.invalidRecords(missing) }

            var summary = InventoryImportSummary()
            let upsertHost = try db.cachedStatement(sql: SQLiteRows.upsertHost)
            for host in batch.hosts {
                if try SQLiteRows.exists(db, table: "hosts", uuid: host.uuid) {
                    summary.hostsUpdated += 1
                } else {
                    summary.hostsInserted += 1
                }
                try upsertHost.execute(arguments: SQLiteRows.arguments(host))
            }
            let upsertVm = try db.cachedStatement(sql: SQLiteRows.upsertVm)
            for vm in batch.vms {
                if try SQLiteRows.exists(db, table: "vms", uuid: vm.uuid) {
                    summary.vmsUpdated += 1
                } else {
                    summary.vmsInserted += 1
                }
                try upsertVm.execute(arguments: SQLiteRows.arguments(vm))
            }
            for vmUuid in batch.nics.keys.sorted() {
                try Self.replaceNics(db, vmUuid: vmUuid, with: batch.nics[vmUuid] ?? [])
            }
            for storage in batch.zbsPrimaryStorages {
                if try SQLiteRows.exists(db, table: "zbs_primary_storages", uuid: storage.uuid) {
                    summary.zbsPrimaryStoragesUpdated += 1
                } else {
                    summary.zbsPrimaryStoragesInserted += 1
                }
                try Self.replaceZbsStorage(db, storage)
            }
            return summary
        }
    }
}
