import GRDB

extension SQLiteInventory: HostStore {
    public func host(uuid: String) async throws -> HostRecord? {
        try lookUp("host(uuid: \(uuid))") { db in
            let statement = try db.cachedStatement(sql: SQLiteRows.selectHost)
            return try Row.fetchOne(statement, arguments: [uuid]).map(SQLiteRows.host)
        }
    }

    public func hosts() async throws -> [HostRecord] {
        try await readOneStatement("hosts()") { db in
            try Row.fetchAll(db, sql: "SELECT \(SQLiteRows.hostColumns) FROM hosts ORDER BY uuid").map(SQLiteRows.host)
        }
    }

    public func upsertHosts(_ hosts: [HostRecord]) async throws {
        let problems = hosts.flatMap { $0.problems() }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !hosts.isEmpty else { return }
        try await write("upsertHosts(\(hosts.count))") { db in
            let statement = try db.cachedStatement(sql: SQLiteRows.upsertHost)
            for host in hosts { try statement.execute(arguments: SQLiteRows.arguments(host)) }
        }
    }

    @discardableResult
    public func updateHostStatus(uuid: String, to status: HostStatus) async throws -> HostStatus {
        try await write("updateHostStatus(uuid: \(uuid), to: \(status.rawValue))") { db in
            try Self.updateHostStatus(uuid: uuid, to: status, in: db)
        }
    }

    public func updateHostStatus(
        uuid: String, to status: HostStatus, outboxKey: String,
        messages: @escaping @Sendable (HostStatus) throws -> [OutboxMessage]
    ) async throws -> (previous: HostStatus, outbox: [OutboxEntry]) {
        try await write("updateHostStatus(uuid: \(uuid), to: \(status.rawValue), outbox)") { db in
            let previous = try Self.updateHostStatus(uuid: uuid, to: status, in: db)
            return (previous, try Self.insertOutbox(messages(previous), key: outboxKey, in: db))
        }
    }

    private static func updateHostStatus(uuid: String, to status: HostStatus, in db: Database) throws -> HostStatus {
        let current = try db.cachedStatement(sql: SQLiteRows.selectHost)
        guard let row = try Row.fetchOne(current, arguments: [uuid]) else {
            throw InventoryError.notFound(entity: .host, uuid: uuid)
        }
        let previous = try SQLiteRows.host(row).status
        if previous != status {
            try db.execute(sql: "UPDATE hosts SET status = ? WHERE uuid = ?", arguments: [status.rawValue, uuid])
        }
        return previous
    }
}
