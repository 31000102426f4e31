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
            // Every lookup is one statement for the whole batch (`= ANY`), not one round trip per record: an import
            // of a cloud's 10k hosts and 500k VMs would otherwise spend its time waiting on the network.
            let batchHosts = Set(batch.hosts.map(\.uuid))
            let nicUuids = batch.vms.flatMap { vm in (batch.nics[vm.uuid] ?? []).map(\.uuid) }
            var nicOwners: [String: String] = [:]
            for try await (nic, owner) in try await connection.query(
                "SELECT uuid, vm_uuid FROM vm_nics WHERE uuid = ANY(\(nicUuids))", logger: Self.quiet
            ).decode((String, String).self) {
                nicOwners[nic] = owner
            }
            var missing: [InventoryFieldProblem] = []
            for (vmIndex, vm) in batch.vms.enumerated() {
                for (position, nic) in (batch.nics[vm.uuid] ?? []).enumerated() {
                    if let problem = batch.nicOwnershipProblem(
                        vmIndex: vmIndex, vmUuid: vm.uuid, position: position, nic: nic, storedOwner: nicOwners[nic.uuid])
                    {
                        missing.append(problem)
                    }
                }
            }
            let referenced = Set(batch.vms.flatMap { [$0.hostUuid, $0.lastHostUuid] }.compactMap { $0 })
                .subtracting(batchHosts)
            let knownHosts = try await Self.existing("hosts", among: Array(referenced), on: connection)
            for (index, vm) in batch.vms.enumerated() {
                for (field, reference) in [("hostUuid", vm.hostUuid), ("lastHostUuid", vm.lastHostUuid)] {
                    guard let reference, !batchHosts.contains(reference), !knownHosts.contains(reference) else {
                        continue
                    }
                    missing.append(InventoryFieldProblem(
                        entity: .vm, index: index, field: field, value: reference,
                        reason: "names no host of this file or of the inventory"))
                }
            }
            guard missing.isEmpty else { throw InventoryError.invalidRecords(missing) }

            var summary = InventoryImportSummary()
            let storedHosts = try await Self.existing("hosts", among: batch.hosts.map(\.uuid), on: connection)
            let storedVms = try await Self.existing("vms", among: batch.vms.map(\.uuid), on: connection)
            let storedStorages = try await Self.existing(
                "zbs_primary_storages", among: batch.zbsPrimaryStorages.map(\.uuid), on: connection)
            for host in batch.hosts {
                if storedHosts.contains(host.uuid) {
                    summary.hostsUpdated += 1
                } else {
                    summary.hostsInserted += 1
                }
                try await Self.upsert(host, on: connection)
            }
            for vm in batch.vms {
                if storedVms.contains(vm.uuid) {
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
                if storedStorages.contains(storage.uuid) {
                    summary.zbsPrimaryStoragesUpdated += 1
                } else {
                    summary.zbsPrimaryStoragesInserted += 1
                }
                try await Self.replaceZbsStorage(storage, on: connection)
            }
            return summary
        }
    }

    /// Which of `uuids` have a row in `table`, in one statement.
    static func existing(
        _ table: StaticString, among uuids: [String], on connection: PostgresConnection
    ) async throws -> Set<String> {
        guard !uuids.isEmpty else { return [] }
        var query = PostgresQuery(unsafeSQL: "SELECT uuid FROM \(table) WHERE uuid = ANY($1)")
        query.binds.append(uuids)
        return Set(try await connection.query(query, logger: quiet).collect(String.self))
    }
}
