import Primitives
import Foundation
import GRDB

extension SQLiteInventory: MemberStore {
    public func heartbeat(node: String, services: [String]) async throws -> [MemberRecord] {
        try await write("heartbeat(\(node))") { db in
            let now = Self.nowMillis()
            try db.execute(sql: """
                INSERT INTO members (nodeUuid, services, state, heartbeatAtMillis, leftAnnouncedBy)
                VALUES (?, ?, 'alive', ?, NULL)
                ON CONFLICT(nodeUuid) DO UPDATE SET services = excluded.services, state = 'alive',
                    heartbeatAtMillis = excluded.heartbeatAtMillis, leftAnnouncedBy = NULL,
                    drainedBy = NULL
                """, arguments: [node, services.joined(separator: ","), now])
            return try Self.members(db, now: now)
        }
    }

    public func members() async throws -> [MemberRecord] {
        try await read("members()") { db in try Self.members(db, now: Self.nowMillis()) }
    }

    public func declareLeft(node: String, by survivor: String, silentFor timeout: Duration) async throws -> Bool {
        try await write("declareLeft(\(node))") { db in
            try db.execute(sql: """
                UPDATE members SET state = 'left', leftAnnouncedBy = ?
                WHERE nodeUuid = ? AND state = 'alive' AND heartbeatAtMillis <= ?
                """, arguments: [survivor, node, Self.nowMillis() - timeout.inMilliseconds])
            return db.changesCount == 1
        }
    }

    public func leave(node: String) async throws {
        try await write("leave(\(node))") { db in
            try db.execute(sql: """
                UPDATE members SET state = 'left', leftAnnouncedBy = nodeUuid WHERE nodeUuid = ? AND state = 'alive'
                """, arguments: [node])
        }
    }

    public func claimDrain(node: String, by survivor: String, live: [String]) async throws -> Bool {
        try await write("claimDrain(\(node))") { db in
            var arguments: StatementArguments = [survivor, node, survivor]
            arguments += StatementArguments(live)
            let liveList = live.isEmpty ? "" : " OR drainedBy NOT IN (\(databaseQuestionMarks(count: live.count)))"
            try db.execute(sql: """
                UPDATE members SET drainedBy = ?
                WHERE nodeUuid = ? AND state = 'left' AND (drainedBy IS NULL OR drainedBy = ?\(liveList))
                """, arguments: arguments)
            return db.changesCount == 1
        }
    }

    private static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private static func members(_ db: Database, now: Int64) throws -> [MemberRecord] {
        try Row.fetchAll(db, sql: """
            SELECT nodeUuid, services, state, heartbeatAtMillis, leftAnnouncedBy, drainedBy FROM members
            ORDER BY nodeUuid
            """).map { row in
            let services: String = row[1]
            let heartbeat: Int64 = row[3]
            return MemberRecord(
                nodeUuid: row[0], services: services.split(separator: ",").map(String.init),
                state: MemberRecord.State(rawValue: row[2]) ?? .left,
                heartbeatAge: .milliseconds(max(0, now - heartbeat)), leftAnnouncedBy: row[4], drainedBy: row[5])
        }
    }
}
