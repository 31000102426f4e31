import Inventory
import PostgresNIO
import Primitives

extension PostgresInventory: MemberStore {
    private static let memberColumns = """
        node_uuid, services, state, (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::bigint,
        left_announced_by, drained_by
        """

    /// One statement: the upsert and the read see one snapshot, the ages one clock (the server's).
    public func heartbeat(node: String, services: [String]) async throws -> [MemberRecord] {
        try await transaction("heartbeat(\(node))") { connection in
            try await connection.query("""
                INSERT INTO members (node_uuid, services, state, heartbeat_at, left_announced_by)
                VALUES (\(node), \(services), 'alive', clock_timestamp(), NULL)
                ON CONFLICT (node_uuid) DO UPDATE SET services = excluded.services, state = 'alive',
                    heartbeat_at = excluded.heartbeat_at, left_announced_by = NULL,
                    drained_by = NULL
                """, logger: Self.quiet)
            return try await Self.decodeMembers(connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.memberColumns) FROM members ORDER BY node_uuid"),
                logger: Self.quiet))
        }
    }

    public func members() async throws -> [MemberRecord] {
        try await bounded("members()") { client in
            try await Self.decodeMembers(client.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.memberColumns) FROM members ORDER BY node_uuid")))
        }
    }

    /// The conditional UPDATE decides: among survivors racing to declare the same member, the row lock lets one
    /// update it; the others re-check the WHERE clause after it committed, find `state = 'left'` and update nothing.
    public func declareLeft(node: String, by survivor: String, silentFor timeout: Duration) async throws -> Bool {
        let timeoutMillis = timeout.inMilliseconds
        return try await bounded("declareLeft(\(node))") { client in
            try await !client.query("""
                UPDATE members SET state = 'left', left_announced_by = \(survivor)
                WHERE node_uuid = \(node) AND state = 'alive'
                    AND heartbeat_at <= clock_timestamp() - make_interval(secs => \(Double(timeoutMillis) / 1000))
                RETURNING node_uuid
                """).collect(String.self).isEmpty
        }
    }

    public func leave(node: String) async throws {
        try await bounded("leave(\(node))") { client in
            try await client.query("""
                UPDATE members SET state = 'left', left_announced_by = node_uuid
                WHERE node_uuid = \(node) AND state = 'alive'
                """).drain()
        }
    }

    public func claimDrain(node: String, by survivor: String, live: [String]) async throws -> Bool {
        try await bounded("claimDrain(\(node))") { client in
            try await !client.query("""
                UPDATE members SET drained_by = \(survivor)
                WHERE node_uuid = \(node) AND state = 'left'
                    AND (drained_by IS NULL OR drained_by = \(survivor) OR NOT (drained_by = ANY(\(live))))
                RETURNING node_uuid
                """).collect(String.self).isEmpty
        }
    }

    private static func decodeMembers(_ rows: PostgresRowSequence) async throws -> [MemberRecord] {
        var members: [MemberRecord] = []
        for try await (node, services, state, ageMillis, announcedBy, drainedBy)
            in rows.decode((String, [String], String, Int64, String?, String?).self)
        {
            members.append(MemberRecord(
                nodeUuid: node, services: services, state: MemberRecord.State(rawValue: state) ?? .left,
                heartbeatAge: .milliseconds(max(0, ageMillis)), leftAnnouncedBy: announcedBy, drainedBy: drainedBy))
        }
        return members
    }
}
