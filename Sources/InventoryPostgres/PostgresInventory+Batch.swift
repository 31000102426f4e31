import Inventory
import PostgresNIO

extension PostgresInventory: InventoryBatchStore {
    /// The same checks as SQLite's, inside the transaction that writes, so a concurrent writer (another worker's
    /// import) cannot slip between the check and the upsert: host references against the batch and the store, and
    /// no NIC silently changing VM.
    public func importBatch(_ batch: InventoryBatch) async throws -> InventoryImportSummary {
        let problems = batch.problems()
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        // An import of a whole cloud is one transaction of many statements: bounded by minutes, not by the
        // per-operation timeout meant for the worker's single reads and writes.
        return try await transaction("importBatch(hosts: \(batch.hosts.count), vms: \(batch.vms.count))",
                                     limit: .seconds(600)) { connection in
            // Imports serialize on one advisory lock: two imports of overlapping files then apply one after the
            // other, each seeing the other's rows, as two SQLite writers do.
            let schemaName = self.settings.schema ?? "public"
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(PostgresSchema.advisoryLock + 1), hashtext(\(schemaName)))",
                logger: Self.quiet
            ).drain()
            let batchHosts = Set(batch.hosts.map(\.uuid))
            var knownHosts: [String: Bool] = [:]
            var missing: [InventoryFieldProblem] = []
            for (vmIndex, vm) in batch.vms.enumerated() {
                for (position, nic) in (batch.nics[vm.uuid] ?? []).enumerated() {
                    let owners = try await connection.query(
                        "SELECT vm_uuid FROM vm_nics WHERE uuid = \(nic.uuid)", logger: Self.quiet
                    ).collect(String.self)
                    if let problem = batch.nicOwnershipProblem(
                        vmIndex: vmIndex, vmUuid: vm.uuid, position: position, nic: nic, storedOwner: owners.first)
                    {
                        missing.append(problem)
                    }
                }
            }
            for (index, vm) in batch.vms.enumerated() {
                for (field, reference) in [("hostUuid", vm.hostUuid), ("lastHostUuid", vm.lastHostUuid)] {
                    guard let reference, !batchHosts.contains(reference) else { continue }
                    let known: Bool
                    if let cached = knownHosts[reference] {
                        known = cached
                    } else {
                        known = try await Self.exists("hosts", uuid: reference, on: connection)
                        knownHosts[reference] = known
                    }
                    if !known {
                        missing.append(InventoryFieldProblem(
                            entity: .vm, index: index, field: field, value: reference,
                            reason: "names no host of this file or of the inventory"))
                    }
                }
            }
            guard missing.isEmpty else { throw InventoryError.invalidRecords(missing) }

            var summary = InventoryImportSummary()
            for host in batch.hosts {
                if try await Self.exists("hosts", uuid: host.uuid, on: connection) {
                    summary.hostsUpdated += 1
                } else {
                    summary.hostsInserted += 1
                }
                try await Self.upsert(host, on: connection)
            }
            for vm in batch.vms {
                if try await Self.exists("vms", uuid: vm.uuid, on: connection) {
                    summary.vmsUpdated += 1
                } else {
                    summary.vmsInserted += 1
                }
                try await Self.upsert(vm, on: connection)
            }
            for vmUuid in batch.nics.keys.sorted() {
                try await Self.replaceNics(vmUuid: vmUuid, with: batch.nics[vmUuid] ?? [], on: connection)
            }
            for storage in batch.zbsPrimaryStorages {
                if try await Self.exists("zbs_primary_storages", uuid: storage.uuid, on: connection) {
                    summary.zbsPrimaryStoragesUpdated += 1
                } else {
                    summary.zbsPrimaryStoragesInserted += 1
                }
                try await Self.replaceZbsStorage(storage, on: connection)
            }
            return summary
        }
    }
}
