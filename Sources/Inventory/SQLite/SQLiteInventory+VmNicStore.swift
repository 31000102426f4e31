import GRDB

extension SQLiteInventory: VmNicStore {
    public func replaceNics(ofVm vmUuid: String, with nics: [VmNicRecord]) async throws {
        let problems = VmNicRecord.replacementProblems(nics, ofVm: vmUuid)
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        try await write("replaceNics(ofVm: \(vmUuid), count: \(nics.count))") { db in
            guard try SQLiteRows.exists(db, table: "vms", uuid: vmUuid) else {
                throw InventoryError.notFound(entity: .vm, uuid: vmUuid)
            }
            try Self.replaceNics(db, vmUuid: vmUuid, with: nics)
        }
    }

    public func nics(ofVm vmUuid: String) async throws -> [VmNicRecord] {
        try lookUp("nics(ofVm: \(vmUuid))") { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT uuid, mac FROM vm_nics WHERE vmUuid = ? ORDER BY uuid"),
                arguments: [vmUuid]
            ).map { row in VmNicRecord(uuid: row[0], vmUuid: vmUuid, mac: row[1]) }
        }
    }

    /// Inside a write transaction: deletes the VM's NICs and inserts `nics` (validated by the caller). A NIC uuid
    /// that belonged to another VM moves to this one.
    static func replaceNics(_ db: Database, vmUuid: String, with nics: [VmNicRecord]) throws {
        try db.cachedStatement(sql: "DELETE FROM vm_nics WHERE vmUuid = ?").execute(arguments: [vmUuid])
        let insert = try db.cachedStatement(sql: """
            INSERT INTO vm_nics (uuid, vmUuid, mac) VALUES (?, ?, ?)
            ON CONFLICT(uuid) DO UPDATE SET vmUuid = excluded.vmUuid, mac = excluded.mac
            """)
        for nic in nics { try insert.execute(arguments: [nic.uuid, vmUuid, nic.mac]) }
    }
}
