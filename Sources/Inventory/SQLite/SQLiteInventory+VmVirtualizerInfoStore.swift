import GRDB

extension SQLiteInventory: VmVirtualizerInfoStore {
    public func saveVirtualizerInfo(_ info: VmVirtualizerInfo) async throws {
        try await write("saveVirtualizerInfo(vm: \(info.vmUuid))") { db in
            guard try SQLiteRows.exists(db, table: "vms", uuid: info.vmUuid) else {
                throw InventoryError.notFound(entity: .vm, uuid: info.vmUuid)
            }
            try db.cachedStatement(sql: """
                INSERT INTO vm_virtualizer_info (vmUuid, virtualizer, version) VALUES (?, ?, ?)
                ON CONFLICT(vmUuid) DO UPDATE SET virtualizer = excluded.virtualizer, version = excluded.version
                """).execute(arguments: [info.vmUuid, info.virtualizer, info.version])
        }
    }

    public func virtualizerInfo(ofVm vmUuid: String) async throws -> VmVirtualizerInfo? {
        try lookUp("virtualizerInfo(ofVm: \(vmUuid))") { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT virtualizer, version FROM vm_virtualizer_info WHERE vmUuid = ?"),
                arguments: [vmUuid]
            ).map { row in VmVirtualizerInfo(vmUuid: vmUuid, virtualizer: row[0], version: row[1]) }
        }
    }
}
