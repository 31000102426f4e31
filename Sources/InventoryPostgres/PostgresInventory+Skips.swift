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
            for try await (vm, age) in try await connection.query("""
                SELECT vm_uuid, GREATEST(0, \(unescaped: Self.storeNowMillis) - orphaned_at_epoch_millis)
                FROM skip_orphans ORDER BY vm_uuid
                """, logger: Self.quiet).decode((String, Int64).self) {
                snapshot.orphans.append(OrphanRecord(vmUuid: vm, ageMillis: age))
            }
            for try await (node, age) in try await connection.query("""
                SELECT node_id, GREATEST(0, \(unescaped: Self.storeNowMillis) - left_at_epoch_millis)
                FROM skip_departed_nodes ORDER BY node_id
                """, logger: Self.quiet).decode((String, Int64).self) {
                snapshot.departedNodes.append(DepartedNodeRecord(nodeId: node, ageMillis: age))
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

    public func sharedSkipStates(
        of vmUuids: [String], orphanTimeoutMillis: Int64, expiryWindowMillis: Int64
    ) async throws -> [String: SharedSkipState] {
        guard !vmUuids.isEmpty else { return [:] }
        return try await bounded("sharedSkipStates(\(vmUuids.count))") { client in
            // One round trip: per VM, whether any node has an operation in flight, and its orphan's age on the
            // server's clock (NULL without an orphan row).
            var states: [String: SharedSkipState] = [:]
            for try await (vm, skipped, age) in try await client.query("""
                SELECT v.vm_uuid,
                       EXISTS (SELECT 1 FROM skip_entries e WHERE e.vm_uuid = v.vm_uuid),
                       (SELECT GREATEST(0, \(unescaped: Self.storeNowMillis) - o.orphaned_at_epoch_millis)
                          FROM skip_orphans o WHERE o.vm_uuid = v.vm_uuid)
                FROM unnest(\(vmUuids)::text[]) AS v(vm_uuid)
                """, logger: Self.quiet).decode((String, Bool, Int64?).self) {
                if skipped {
                    states[vm] = .skipped
                } else if let age {
                    states[vm] = SharedSkipState(
                        orphanAge: age, timeout: orphanTimeoutMillis, window: expiryWindowMillis)
                }
            }
            return states
        }
    }

    /// The server's clock in epoch milliseconds, as SQL: `clock_timestamp()` (not `now()`, which is the
    /// transaction's start) so a long transaction does not age rows on a stale clock.
    static let storeNowMillis = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

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
        case .orphan(let vmUuid, let ageMillis):
            try await connection.query("""
                INSERT INTO skip_orphans (vm_uuid, orphaned_at_epoch_millis)
                VALUES (\(vmUuid), \(unescaped: storeNowMillis) - \(max(0, ageMillis)))
                ON CONFLICT (vm_uuid) DO UPDATE SET orphaned_at_epoch_millis = excluded.orphaned_at_epoch_millis
                """, logger: quiet)
        case .removeOrphan(let vmUuid):
            try await connection.query("DELETE FROM skip_orphans WHERE vm_uuid = \(vmUuid)", logger: quiet)
        case .forgetOrphans(let olderThanMillis):
            try await connection.query("""
                DELETE FROM skip_orphans WHERE orphaned_at_epoch_millis <= \(unescaped: storeNowMillis) - \(olderThanMillis)
                """, logger: quiet)
        case .departed(let nodeId, let ageMillis):
            try await connection.query("""
                INSERT INTO skip_departed_nodes (node_id, left_at_epoch_millis)
                VALUES (\(nodeId), \(unescaped: storeNowMillis) - \(max(0, ageMillis)))
                ON CONFLICT (node_id) DO UPDATE SET left_at_epoch_millis = excluded.left_at_epoch_millis
                """, logger: quiet)
        case .rejoined(let nodeId):
            try await connection.query("DELETE FROM skip_departed_nodes WHERE node_id = \(nodeId)", logger: quiet)
        }
    }
}
