import GRDB

/// Column lists, statements and row decoding shared by the SQLite store's files. Records are decoded by hand
/// rather than through Codable: it is the hot path, and an unknown enum spelling becomes a precise error.
/// Rows are read by position (GRDB's lookup by name lowercases the name on every access), so every SELECT that
/// feeds ``host(_:)`` or ``vm(_:)`` must list exactly ``hostColumns`` or ``vmColumns``, in that order.
enum SQLiteRows {
    static let hostColumns = "uuid, managementIp, agentPort, status, clusterUuid, name"
    static let vmColumns = "uuid, state, hostUuid, lastHostUuid, type, clusterUuid"
    static let selectHost = "SELECT \(hostColumns) FROM hosts WHERE uuid = ?"
    static let selectVm = "SELECT \(vmColumns) FROM vms WHERE uuid = ?"

    static let upsertHost = """
        INSERT INTO hosts (\(hostColumns)) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(uuid) DO UPDATE SET
            managementIp = excluded.managementIp, agentPort = excluded.agentPort, status = excluded.status,
            clusterUuid = excluded.clusterUuid, name = excluded.name
        """

    static let upsertVm = """
        INSERT INTO vms (\(vmColumns)) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(uuid) DO UPDATE SET
            state = excluded.state, hostUuid = excluded.hostUuid, lastHostUuid = excluded.lastHostUuid,
            type = excluded.type, clusterUuid = excluded.clusterUuid
        """

    static func host(_ row: Row) throws -> HostRecord {
        let uuid: String = row[0]
        let statusText: String = row[3]
        guard let status = HostStatus(rawValue: statusText) else {
            throw InventoryError.storage(
                operation: "read host \(uuid)", path: nil, reason: "unknown host status \"\(statusText)\" in row")
        }
        return HostRecord(
            uuid: uuid, managementIp: row[1], agentPort: row[2], status: status, clusterUuid: row[4], name: row[5])
    }

    static func vm(_ row: Row) throws -> VmRecord {
        let uuid: String = row[0]
        let stateText: String = row[1]
        guard let state = VmState(rawValue: stateText) else {
            throw InventoryError.storage(
                operation: "read vm \(uuid)", path: nil, reason: "unknown VM state \"\(stateText)\" in row")
        }
        return VmRecord(
            uuid: uuid, state: state, hostUuid: row[2], lastHostUuid: row[3], type: VmType(rawValue: row[4]),
            clusterUuid: row[5])
    }

    static func arguments(_ host: HostRecord) -> StatementArguments {
        [host.uuid, host.managementIp, host.agentPort, host.status.rawValue, host.clusterUuid, host.name]
    }

    static func arguments(_ vm: VmRecord) -> StatementArguments {
        [vm.uuid, vm.state.rawValue, vm.hostUuid, vm.lastHostUuid, vm.type.rawValue, vm.clusterUuid]
    }

    static func exists(_ db: Database, table: String, uuid: String) throws -> Bool {
        let statement = try db.cachedStatement(sql: "SELECT 1 FROM \(table) WHERE uuid = ?")
        return try Bool.fetchOne(statement, arguments: [uuid]) != nil
    }
}
