import GRDB

extension SQLiteInventory: SkipEntryStore {
    public func loadSkipRegistry() async throws -> SkipRegistrySnapshot {
        let now = storeClock()
        return try await read("loadSkipRegistry") { db in
            let entries = try Row.fetchAll(db, sql: """
                SELECT nodeId, vmUuid, operations FROM skip_entries ORDER BY nodeId, vmUuid
                """).map { SkipEntryRecord(nodeId: $0[0], vmUuid: $0[1], operations: $0[2]) }
            let apiIds = try Row.fetchAll(db, sql: """
                SELECT nodeId, apiId, vmUuid FROM skip_api_ids ORDER BY nodeId, apiId
                """).map { SkipApiRecord(nodeId: $0[0], apiId: $0[1], vmUuid: $0[2]) }
            let orphans = try Row.fetchAll(db, sql: """
                SELECT vmUuid, MAX(0, ? - orphanedAtEpochMillis) FROM skip_orphans ORDER BY vmUuid
                """, arguments: [now]).map { OrphanRecord(vmUuid: $0[0], ageMillis: $0[1]) }
            let departed = try Row.fetchAll(db, sql: """
                SELECT nodeId, MAX(0, ? - leftAtEpochMillis) FROM skip_departed_nodes ORDER BY nodeId
                """, arguments: [now]).map { DepartedNodeRecord(nodeId: $0[0], ageMillis: $0[1]) }
            return SkipRegistrySnapshot(entries: entries, apiIds: apiIds, orphans: orphans, departedNodes: departed)
        }
    }

    public func applySkipChanges(_ changes: [SkipEntryChange]) async throws {
        guard !changes.isEmpty else { return }
        let now = storeClock()
        try await write("applySkipChanges(\(changes.count))") { db in
            for change in changes { try Self.apply(change, now: now, in: db) }
        }
    }

    public func sharedSkipStates(
        of vmUuids: [String], orphanTimeoutMillis: Int64, expiryWindowMillis: Int64
    ) async throws -> [String: SharedSkipState] {
        guard !vmUuids.isEmpty else { return [:] }
        let now = storeClock()
        return try await read("sharedSkipStates(\(vmUuids.count))") { db in
            var states: [String: SharedSkipState] = [:]
            for vmUuid in vmUuids {
                if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM skip_entries WHERE vmUuid = ?)",
                                     arguments: [vmUuid]) == true {
                    states[vmUuid] = .skipped
                } else if let orphanedAt = try Int64.fetchOne(
                    db, sql: "SELECT orphanedAtEpochMillis FROM skip_orphans WHERE vmUuid = ?", arguments: [vmUuid]
                ) {
                    states[vmUuid] = SharedSkipState(
                        orphanAge: max(0, now - orphanedAt), timeout: orphanTimeoutMillis, window: expiryWindowMillis)
                }
            }
            return states
        }
    }

    private static func apply(_ change: SkipEntryChange, now: Int64, in db: Database) throws {
        switch change {
        case .operations(let nodeId, let vmUuid, let count) where count > 0:
            try db.cachedStatement(sql: """
                INSERT INTO skip_entries (nodeId, vmUuid, operations) VALUES (?, ?, ?)
                ON CONFLICT(nodeId, vmUuid) DO UPDATE SET operations = excluded.operations
                """).execute(arguments: [nodeId, vmUuid, count])
        case .operations(let nodeId, let vmUuid, _):
            try db.cachedStatement(sql: "DELETE FROM skip_entries WHERE nodeId = ? AND vmUuid = ?")
                .execute(arguments: [nodeId, vmUuid])
        case .apiId(let nodeId, let apiId, let vmUuid):
            try db.cachedStatement(sql: """
                INSERT INTO skip_api_ids (nodeId, apiId, vmUuid) VALUES (?, ?, ?)
                ON CONFLICT(nodeId, apiId) DO UPDATE SET vmUuid = excluded.vmUuid
                """).execute(arguments: [nodeId, apiId, vmUuid])
        case .removeApiId(let nodeId, let apiId):
            try db.cachedStatement(sql: "DELETE FROM skip_api_ids WHERE nodeId = ? AND apiId = ?")
                .execute(arguments: [nodeId, apiId])
        case .removeNode(let nodeId):
            try db.cachedStatement(sql: "DELETE FROM skip_entries WHERE nodeId = ?").execute(arguments: [nodeId])
            try db.cachedStatement(sql: "DELETE FROM skip_api_ids WHERE nodeId = ?").execute(arguments: [nodeId])
        case .orphan(let vmUuid, let ageMillis):
            try db.cachedStatement(sql: """
                INSERT INTO skip_orphans (vmUuid, orphanedAtEpochMillis) VALUES (?, ?)
                ON CONFLICT(vmUuid) DO UPDATE SET orphanedAtEpochMillis = excluded.orphanedAtEpochMillis
                """).execute(arguments: [vmUuid, now - max(0, ageMillis)])
        case .removeOrphan(let vmUuid):
            try db.cachedStatement(sql: "DELETE FROM skip_orphans WHERE vmUuid = ?").execute(arguments: [vmUuid])
        case .forgetOrphans(let olderThanMillis):
            try db.cachedStatement(sql: "DELETE FROM skip_orphans WHERE orphanedAtEpochMillis <= ?")
                .execute(arguments: [now - olderThanMillis])
        case .departed(let nodeId, let ageMillis):
            try db.cachedStatement(sql: """
                INSERT INTO skip_departed_nodes (nodeId, leftAtEpochMillis) VALUES (?, ?)
                ON CONFLICT(nodeId) DO UPDATE SET leftAtEpochMillis = excluded.leftAtEpochMillis
                """).execute(arguments: [nodeId, now - max(0, ageMillis)])
        case .rejoined(let nodeId):
            try db.cachedStatement(sql: "DELETE FROM skip_departed_nodes WHERE nodeId = ?")
                .execute(arguments: [nodeId])
        }
    }
}
