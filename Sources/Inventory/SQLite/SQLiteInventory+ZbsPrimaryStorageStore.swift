import GRDB

extension SQLiteInventory: ZbsPrimaryStorageStore {
    /// The hot path (every MDS call reads its storage): one cached statement, no explicit transaction. A stored
    /// storage always has at least one MDS, so no MDS row means no storage.
    public func zbsPrimaryStorage(uuid: String) async throws -> ZbsPrimaryStorageRecord? {
        try lookUp("zbsPrimaryStorage(uuid: \(uuid))") { db in
            let statement = try db.cachedStatement(sql: """
                SELECT 0, addr, status, agentPort, position FROM zbs_mds WHERE primaryStorageUuid = ?
                UNION ALL
                SELECT 1, logicalPoolName, physicalPoolName, 0, 0 FROM zbs_logical_pools WHERE primaryStorageUuid = ?
                ORDER BY 1, 5, 2
                """)
            var mds: [MdsRecord] = []
            var pools: [ZbsLogicalPool] = []
            let rows = try Row.fetchCursor(statement, arguments: [uuid, uuid])
            while let row = try rows.next() {
                let kind: Int = row[0]
                if kind == 0 {
                    let status = try MdsStatus(stored: row[2], storage: uuid)
                    mds.append(MdsRecord(addr: row[1], status: status, agentPort: row[3]))
                } else {
                    pools.append(ZbsLogicalPool(logicalPoolName: row[1], physicalPoolName: row[2]))
                }
            }
            return mds.isEmpty ? nil : ZbsPrimaryStorageRecord(uuid: uuid, mds: mds, logicalPools: pools)
        }
    }

    public func zbsPrimaryStorages() async throws -> [ZbsPrimaryStorageRecord] {
        try await read("zbsPrimaryStorages()") { db in
            try String.fetchAll(db, sql: "SELECT uuid FROM zbs_primary_storages ORDER BY uuid")
                .compactMap { try Self.zbsStorage(db, uuid: $0) }
        }
    }

    public func upsertZbsPrimaryStorages(_ storages: [ZbsPrimaryStorageRecord]) async throws {
        let problems = storages.flatMap { $0.problems() }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !storages.isEmpty else { return }
        try await write("upsertZbsPrimaryStorages(\(storages.count))") { db in
            for storage in storages { try Self.replaceZbsStorage(db, storage) }
        }
    }

    @discardableResult
    public func updateMdsStatus(
        primaryStorageUuid: String, addr: String, agentPort: Int? = nil, to status: MdsStatus
    ) async throws -> MdsStatus {
        try await write("updateMdsStatus(\(primaryStorageUuid), \(addr), \(status.rawValue))") { db in
            let matching = "primaryStorageUuid = ? AND addr = ? AND (? IS NULL OR agentPort = ?)"
            let arguments: StatementArguments = [primaryStorageUuid, addr, agentPort, agentPort]
            let current = try String.fetchOne(
                db, sql: "SELECT status FROM zbs_mds WHERE \(matching) ORDER BY position", arguments: arguments)
            guard let current, let previous = MdsStatus(rawValue: current) else {
                throw InventoryError.notFound(entity: .zbsPrimaryStorage, uuid: "\(primaryStorageUuid) (MDS \(addr))")
            }
            var update: StatementArguments = [status.rawValue]
            update += arguments
            try db.execute(sql: "UPDATE zbs_mds SET status = ? WHERE \(matching)", arguments: update)
            return previous
        }
    }

    /// Replaces one storage whole; runs inside the caller's write transaction (also used by the batch import).
    static func replaceZbsStorage(_ db: Database, _ storage: ZbsPrimaryStorageRecord) throws {
        try db.execute(sql: "DELETE FROM zbs_primary_storages WHERE uuid = ?", arguments: [storage.uuid])
        try db.execute(sql: "INSERT INTO zbs_primary_storages (uuid) VALUES (?)", arguments: [storage.uuid])
        for (position, node) in storage.mds.enumerated() {
            try db.execute(
                sql: """
                    INSERT INTO zbs_mds (primaryStorageUuid, addr, status, agentPort, position)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [storage.uuid, node.addr, node.status.rawValue, node.agentPort, position])
        }
        for pool in storage.logicalPools {
            try db.execute(
                sql: """
                    INSERT INTO zbs_logical_pools (primaryStorageUuid, logicalPoolName, physicalPoolName)
                    VALUES (?, ?, ?)
                    """,
                arguments: [storage.uuid, pool.logicalPoolName, pool.physicalPoolName])
        }
    }

    private static func zbsStorage(_ db: Database, uuid: String) throws -> ZbsPrimaryStorageRecord? {
        guard try SQLiteRows.exists(db, table: "zbs_primary_storages", uuid: uuid) else { return nil }
        let mds = try Row.fetchAll(
            db, sql: "SELECT addr, status, agentPort FROM zbs_mds WHERE primaryStorageUuid = ? ORDER BY position",
            arguments: [uuid]
        ).map { row in
            MdsRecord(addr: row["addr"], status: try MdsStatus(stored: row["status"], storage: uuid), agentPort: row["agentPort"])
        }
        let pools = try Row.fetchAll(
            db,
            sql: """
                SELECT logicalPoolName, physicalPoolName FROM zbs_logical_pools
                WHERE primaryStorageUuid = ? ORDER BY logicalPoolName
                """,
            arguments: [uuid]
        ).map { ZbsLogicalPool(logicalPoolName: $0["logicalPoolName"], physicalPoolName: $0["physicalPoolName"]) }
        return ZbsPrimaryStorageRecord(uuid: uuid, mds: mds, logicalPools: pools)
    }
}
