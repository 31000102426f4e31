import GRDB

extension SQLiteInventory: SkipEntryStore {
    public func loadSkipRegistry() async throws -> SkipRegistrySnapshot {
        try await read("loadSkipRegistry") { db in
            let entries = try Row.fetchAll(db, sql: """
                SELECT nodeId, vmUuid, operations FROM skip_entries ORDER BY nodeId, vmUuid
                """).map { SkipEntryRecord(nodeId: $0[0], vmUuid: $0[1], operations: $0[2]) }
            let apiIds = try Row.fetchAll(db, sql: """
                SELECT nodeId, apiId, vmUuid FROM skip_api_ids ORDER BY nodeId, apiId
                """).map { SkipApiRecord(nodeId: $0[0], apiId: $0[1], vmUuid: $0[2]) }
            let orphans = try Row.fetchAll(db, sql: """
                SELECT vmUuid, orphanedAtEpochMillis FROM skip_orphans ORDER BY vmUuid
                """).map { OrphanRecord(vmUuid: $0[0], orphanedAtEpochMillis: $0[1]) }
            let departed = try Row.fetchAll(db, sql: """
                SELECT nodeId, leftAtEpochMillis FROM skip_departed_nodes ORDER BY nodeId
                """).map { DepartedNodeRecord(nodeId: $0[0], leftAtEpochMillis: $0[1]) }
            return SkipRegistrySnapshot(entries: entries, apiIds: apiIds, orphans: orphans, departedNodes: departed)
        }
    }

    public func applySkipChanges(_ changes: [SkipEntryChange]) async throws {
        guard !changes.isEmpty else { return }
        try await write("applySkipChanges(\(changes.count))") { db in
            for change in changes { try Self.apply(change, in: db) }
        }
    }

    public func replaceSkipRegistry(with snapshot: SkipRegistrySnapshot) async throws {
        try await write("replaceSkipRegistry(\(snapshot.entries.count) entries, \(snapshot.orphans.count) orphans)") {
            db in
            try db.execute(sql: """
                DELETE FROM skip_entries; DELETE FROM skip_api_ids; DELETE FROM skip_orphans;
                DELETE FROM skip_departed_nodes;
                """)
            for entry in snapshot.entries {
                try Self.apply(.operations(nodeId: entry.nodeId, vmUuid: entry.vmUuid, count: entry.operations), in: db)
            }
            for api in snapshot.apiIds {
                try Self.apply(.apiId(nodeId: api.nodeId, apiId: api.apiId, vmUuid: api.vmUuid), in: db)
            }
            for orphan in snapshot.orphans {
                try Self.apply(.orphan(vmUuid: orphan.vmUuid, epochMillis: orphan.orphanedAtEpochMillis), in: db)
            }
            for node in snapshot.departedNodes {
                try Self.apply(.departed(nodeId: node.nodeId, epochMillis: node.leftAtEpochMillis), in: db)
            }
        }
    }

    private static func apply(_ change: SkipEntryChange, in db: Database) throws {
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
        case .orphan(let vmUuid, let epochMillis):
            try db.cachedStatement(sql: """
                INSERT INTO skip_orphans (vmUuid, orphanedAtEpochMillis) VALUES (?, ?)
                ON CONFLICT(vmUuid) DO UPDATE SET orphanedAtEpochMillis = excluded.orphanedAtEpochMillis
                """).execute(arguments: [vmUuid, epochMillis])
        case .removeOrphan(let vmUuid):
            try db.cachedStatement(sql: "DELETE FROM skip_orphans WHERE vmUuid = ?").execute(arguments: [vmUuid])
        case .departed(let nodeId, let epochMillis):
            try db.cachedStatement(sql: """
                INSERT INTO skip_departed_nodes (nodeId, leftAtEpochMillis) VALUES (?, ?)
                ON CONFLICT(nodeId) DO UPDATE SET leftAtEpochMillis = excluded.leftAtEpochMillis
                """).execute(arguments: [nodeId, epochMillis])
        case .rejoined(let nodeId):
            try db.cachedStatement(sql: "DELETE FROM skip_departed_nodes WHERE nodeId = ?")
                .execute(arguments: [nodeId])
        }
    }
}
