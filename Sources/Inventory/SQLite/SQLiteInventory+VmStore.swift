import GRDB

extension SQLiteInventory: VmStore {
    public func vm(uuid: String) async throws -> VmRecord? {
        try lookUp("vm(uuid: \(uuid))") { db in
            let statement = try db.cachedStatement(sql: SQLiteRows.selectVm)
            return try Row.fetchOne(statement, arguments: [uuid]).map(SQLiteRows.vm)
        }
    }

    public func upsertVms(_ vms: [VmRecord]) async throws {
        let problems = vms.flatMap { $0.problems(index: nil) }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !vms.isEmpty else { return }
        try await write("upsertVms(\(vms.count))") { db in
            let statement = try db.cachedStatement(sql: SQLiteRows.upsertVm)
            for vm in vms { try statement.execute(arguments: SQLiteRows.arguments(vm)) }
        }
    }

    /// See ``VmStore/expectedVms(onHost:excludingTypes:)`` for the rule. The two branches are disjoint (one has
    /// `hostUuid = H`, the other `hostUuid IS NULL`), so a `UNION ALL` returns each VM once, and each branch is
    /// answered from its own partial index (`vms_on_host`, `vms_on_last_host_when_hostless`) instead of a scan.
    public func expectedVms(onHost hostUuid: String, excludingTypes: Set<VmType>) async throws -> [VmRecord] {
        let excluded = excludingTypes.map(\.rawValue).sorted()
        let sql = Self.expectedVmsSQL(excludedTypeCount: excluded.count)
        var arguments: StatementArguments = [hostUuid, hostUuid]
        arguments += StatementArguments(excluded)
        return try lookUp("expectedVms(onHost: \(hostUuid))") { [arguments] db in
            let statement = try db.cachedStatement(sql: sql)
            let rows = try Row.fetchCursor(statement, arguments: arguments)
            var vms: [VmRecord] = []
            while let row = try rows.next() { vms.append(try SQLiteRows.vm(row)) }
            return vms
        }
    }

    static func expectedVmsSQL(excludedTypeCount: Int) -> String {
        let typeFilter =
            excludedTypeCount == 0 ? "" : " AND type NOT IN (\(databaseQuestionMarks(count: excludedTypeCount)))"
        return """
            SELECT \(SQLiteRows.vmColumns) FROM vms WHERE hostUuid = ?
            UNION ALL
            SELECT \(SQLiteRows.vmColumns) FROM vms
                WHERE hostUuid IS NULL AND lastHostUuid = ? AND state NOT IN ('Destroyed', 'Destroying')\(typeFilter)
            ORDER BY uuid
            """
    }

    public func updateVm(
        uuid: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void
    ) async throws -> VmUpdate {
        try await write("updateVm(uuid: \(uuid))") { db in try Self.updateVm(uuid: uuid, change, in: db) }
    }

    public func updateVm(
        uuid: String, outboxKey: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void,
        messages: @escaping @Sendable (VmUpdate) throws -> [OutboxMessage]
    ) async throws -> (update: VmUpdate, outbox: [OutboxEntry]) {
        try await write("updateVm(uuid: \(uuid), outbox)") { db in
            let update = try Self.updateVm(uuid: uuid, change, in: db)
            return (update, try Self.insertOutbox(messages(update), key: outboxKey, in: db))
        }
    }

    private static func updateVm(
        uuid: String, _ change: (inout VmRecord) throws -> Void, in db: Database
    ) throws -> VmUpdate {
        let current = try db.cachedStatement(sql: SQLiteRows.selectVm)
        guard let row = try Row.fetchOne(current, arguments: [uuid]) else {
            throw InventoryError.notFound(entity: .vm, uuid: uuid)
        }
        let update = try VmUpdate.applying(change, to: try SQLiteRows.vm(row))
        if update.after != update.before {
            try db.cachedStatement(sql: SQLiteRows.upsertVm).execute(arguments: SQLiteRows.arguments(update.after))
        }
        return update
    }
}
