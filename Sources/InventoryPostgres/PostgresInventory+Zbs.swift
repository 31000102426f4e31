import Inventory
import PostgresNIO

extension PostgresInventory: ZbsPrimaryStorageStore {
    /// The hot path (every MDS call reads its storage): one statement. A stored storage always has at least one
    /// MDS, so no MDS row means no storage.
    public func zbsPrimaryStorage(uuid: String) async throws -> ZbsPrimaryStorageRecord? {
        try await bounded("zbsPrimaryStorage(uuid: \(uuid))") { client in
            var mds: [MdsRecord] = []
            var pools: [ZbsLogicalPool] = []
            for try await (kind, first, second, port, _) in try await client.query("""
                SELECT 0, addr, status, agent_port, position FROM zbs_mds WHERE primary_storage_uuid = \(uuid)
                UNION ALL
                SELECT 1, logical_pool_name, physical_pool_name, 0, 0 FROM zbs_logical_pools
                    WHERE primary_storage_uuid = \(uuid)
                ORDER BY 1, 5, 2
                """).decode((Int32, String, String, Int32, Int32).self) {
                if kind == 0 {
                    mds.append(MdsRecord(addr: first, status: try MdsStatus(stored: second, storage: uuid),
                                         agentPort: Int(port)))
                } else {
                    pools.append(ZbsLogicalPool(logicalPoolName: first, physicalPoolName: second))
                }
            }
            return mds.isEmpty ? nil : ZbsPrimaryStorageRecord(uuid: uuid, mds: mds, logicalPools: pools)
        }
    }

    public func zbsPrimaryStorages() async throws -> [ZbsPrimaryStorageRecord] {
        try await transaction("zbsPrimaryStorages()") { connection in
            var storages: [ZbsPrimaryStorageRecord] = []
            let uuids = try await connection.query(
                "SELECT uuid FROM zbs_primary_storages ORDER BY uuid", logger: Self.quiet
            ).collect(String.self)
            for uuid in uuids {
                var mds: [MdsRecord] = []
                for try await (addr, status, port) in try await connection.query("""
                    SELECT addr, status, agent_port FROM zbs_mds WHERE primary_storage_uuid = \(uuid) ORDER BY position
                    """, logger: Self.quiet).decode((String, String, Int).self) {
                    mds.append(MdsRecord(addr: addr, status: try MdsStatus(stored: status, storage: uuid), agentPort: port))
                }
                var pools: [ZbsLogicalPool] = []
                for try await (logical, physical) in try await connection.query("""
                    SELECT logical_pool_name, physical_pool_name FROM zbs_logical_pools
                    WHERE primary_storage_uuid = \(uuid) ORDER BY logical_pool_name
                    """, logger: Self.quiet).decode((String, String).self) {
                    pools.append(ZbsLogicalPool(logicalPoolName: logical, physicalPoolName: physical))
                }
                storages.append(ZbsPrimaryStorageRecord(uuid: uuid, mds: mds, logicalPools: pools))
            }
            return storages
        }
    }

    public func upsertZbsPrimaryStorages(_ storages: [ZbsPrimaryStorageRecord]) async throws {
        let problems = storages.flatMap { $0.problems() }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !storages.isEmpty else { return }
        try await transaction("upsertZbsPrimaryStorages(\(storages.count))") { connection in
            for storage in storages { try await Self.replaceZbsStorage(storage, on: connection) }
        }
    }

    @discardableResult
    public func updateMdsStatus(
        primaryStorageUuid: String, addr: String, agentPort: Int? = nil, to status: MdsStatus
    ) async throws -> MdsStatus {
        try await transaction("updateMdsStatus(\(primaryStorageUuid), \(addr), \(status.rawValue))") { connection in
            let current = try await connection.query("""
                SELECT status FROM zbs_mds
                WHERE primary_storage_uuid = \(primaryStorageUuid) AND addr = \(addr)
                    AND (\(agentPort)::bigint IS NULL OR agent_port = \(agentPort))
                ORDER BY position FOR UPDATE
                """, logger: Self.quiet).collect(String.self)
            guard let text = current.first, let previous = MdsStatus(rawValue: text) else {
                throw InventoryError.notFound(entity: .zbsPrimaryStorage, uuid: "\(primaryStorageUuid) (MDS \(addr))")
            }
            try await connection.query("""
                UPDATE zbs_mds SET status = \(status.rawValue)
                WHERE primary_storage_uuid = \(primaryStorageUuid) AND addr = \(addr)
                    AND (\(agentPort)::bigint IS NULL OR agent_port = \(agentPort))
                """, logger: Self.quiet)
            return previous
        }
    }

    /// Replaces one storage whole, inside the caller's transaction (also used by the batch import).
    static func replaceZbsStorage(_ storage: ZbsPrimaryStorageRecord, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM zbs_primary_storages WHERE uuid = \(storage.uuid)", logger: quiet)
        try await connection.query("INSERT INTO zbs_primary_storages (uuid) VALUES (\(storage.uuid))", logger: quiet)
        for (position, node) in storage.mds.enumerated() {
            try await connection.query("""
                INSERT INTO zbs_mds (primary_storage_uuid, addr, status, agent_port, position)
                VALUES (\(storage.uuid), \(node.addr), \(node.status.rawValue), \(node.agentPort), \(position))
                """, logger: quiet)
        }
        for pool in storage.logicalPools {
            try await connection.query("""
                INSERT INTO zbs_logical_pools (primary_storage_uuid, logical_pool_name, physical_pool_name)
                VALUES (\(storage.uuid), \(pool.logicalPoolName), \(pool.physicalPoolName))
                """, logger: quiet)
        }
    }
}
