import Inventory
import PostgresNIO

extension PostgresInventory: SkipEntryStore {
    public func loadSkipRegistry() async throws -> SkipRegistrySnapshot {
        try await transaction("loadSkipRegistry") { connection in
            // One transaction (REPEATABLE READ would be stricter; the registry has one writer per node and
            // reloads whole after a failure, so read-committed between the four reads is what SQLite gives too).
            var snapshot = SkipRegistrySnapshot()
            for try await (node, vm, operations) in try await connection.query(
                "SELECT node_id, vm_uuid, operations FROM skip_entries ORDER BY node_id, vm_uuid", logger: Self.quiet
            ).decode((String, String, Int).self) {
                snapshot.entries.append(SkipEntryRecord(nodeId: node, vmUuid: vm, operations: operations))
            }
            for try await (node, api, vm) in try await connection.query(
                "SELECT node_id, api_id, vm_uuid FROM skip_api_ids ORDER BY node_id, api_id", logger: Self.quiet
            ).decode((String, String, String).self) {
                snapshot.apiIds.append(SkipApiRecord(nodeId: node, apiId: api, vmUuid: vm))
            }
            for try await (vm, at) in try await connection.query(
                "SELECT vm_uuid, orphaned_at_epoch_millis FROM skip_orphans ORDER BY vm_uuid", logger: Self.quiet
            ).decode((String, Int64).self) {
                snapshot.orphans.append(OrphanRecord(vmUuid: vm, orphanedAtEpochMillis: at))
            }
            for try await (node, at) in try await connection.query(
                "SELECT node_id, left_at_epoch_millis FROM skip_departed_nodes ORDER BY node_id", logger: Self.quiet
            ).decode((String, Int64).self) {
                snapshot.departedNodes.append(DepartedNodeRecord(nodeId: node, leftAtEpochMillis: at))
            }
            return snapshot
        }
    }

    public func applySkipChanges(_ changes: [SkipEntryChange]) async throws {
        guard !changes.isEmpty else { return }
        try await transaction("applySkipChanges(\(changes.count))") { connection in
            for change in changes { try await Self.apply(change, on: connection) }
        }
    }

    public func replaceSkipRegistry(with snapshot: SkipRegistrySnapshot) async throws {
        try await transaction(
            "replaceSkipRegistry(\(snapshot.entries.count) entries, \(snapshot.orphans.count) orphans)"
        ) { connection in
            for table in ["skip_entries", "skip_api_ids", "skip_orphans", "skip_departed_nodes"] {
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table)"), logger: Self.quiet)
            }
            for entry in snapshot.entries {
                try await Self.apply(
                    .operations(nodeId: entry.nodeId, vmUuid: entry.vmUuid, count: entry.operations), on: connection)
            }
            for api in snapshot.apiIds {
                try await Self.apply(.apiId(nodeId: api.nodeId, apiId: api.apiId, vmUuid: api.vmUuid), on: connection)
            }
            for orphan in snapshot.orphans {
                try await Self.apply(.orphan(vmUuid: orphan.vmUuid, epochMillis: orphan.orphanedAtEpochMillis),
                                     on: connection)
            }
            for node in snapshot.departedNodes {
                try await Self.apply(.departed(nodeId: node.nodeId, epochMillis: node.leftAtEpochMillis), on: connection)
            }
        }
    }

    private static func apply(_ change: SkipEntryChange, on connection: PostgresConnection) async throws {
        switch change {
        case .operations(let nodeId, let vmUuid, let count) where count > 0:
            try await connection.query("""
                INSERT INTO skip_entries (node_id, vm_uuid, operations) VALUES (\(nodeId), \(vmUuid), \(count))
                ON CONFLICT (node_id, vm_uuid) DO UPDATE SET operations = excluded.operations
                """, logger: quiet)
        case .operations(let nodeId, let vmUuid, _):
            try await connection.query(
                "DELETE FROM skip_entries WHERE node_id = \(nodeId) AND vm_uuid = \(vmUuid)", logger: quiet)
        case .apiId(let nodeId, let apiId, let vmUuid):
            try await connection.query("""
                INSERT INTO skip_api_ids (node_id, api_id, vm_uuid) VALUES (\(nodeId), \(apiId), \(vmUuid))
                ON CONFLICT (node_id, api_id) DO UPDATE SET vm_uuid = excluded.vm_uuid
                """, logger: quiet)
        case .removeApiId(let nodeId, let apiId):
            try await connection.query(
                "DELETE FROM skip_api_ids WHERE node_id = \(nodeId) AND api_id = \(apiId)", logger: quiet)
        case .removeNode(let nodeId):
            try await connection.query("DELETE FROM skip_entries WHERE node_id = \(nodeId)", logger: quiet)
            try await connection.query("DELETE FROM skip_api_ids WHERE node_id = \(nodeId)", logger: quiet)
        case .orphan(let vmUuid, let epochMillis):
            try await connection.query("""
                INSERT INTO skip_orphans (vm_uuid, orphaned_at_epoch_millis) VALUES (\(vmUuid), \(epochMillis))
                ON CONFLICT (vm_uuid) DO UPDATE SET orphaned_at_epoch_millis = excluded.orphaned_at_epoch_millis
                """, logger: quiet)
        case .removeOrphan(let vmUuid):
            try await connection.query("DELETE FROM skip_orphans WHERE vm_uuid = \(vmUuid)", logger: quiet)
        case .departed(let nodeId, let epochMillis):
            try await connection.query("""
                INSERT INTO skip_departed_nodes (node_id, left_at_epoch_millis) VALUES (\(nodeId), \(epochMillis))
                ON CONFLICT (node_id) DO UPDATE SET left_at_epoch_millis = excluded.left_at_epoch_millis
                """, logger: quiet)
        case .rejoined(let nodeId):
            try await connection.query("DELETE FROM skip_departed_nodes WHERE node_id = \(nodeId)", logger: quiet)
        }
    }
}
