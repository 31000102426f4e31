import Foundation
import GRDB

/// The window is an append-only log (migration `v9-answer-log`): `seq` is answer order, a re-answered id has a second,
/// newer row, and readers keep the newest row of each id. No index on the id: see the migration for why, and for
/// what a lookup by id costs.
extension SQLiteInventory: AnsweredMessageStore {
    public func loadAnsweredMessages(limit: Int) async throws -> [AnsweredMessage] {
        try await read("loadAnsweredMessages(\(limit))") { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, reply, answeredAt FROM answered_messages ORDER BY seq DESC LIMIT ?
                """, arguments: [max(0, limit)])
            return try Self.newestPerId(rows) { row in
                AnsweredMessage(id: row[0], reply: (row[1] as Data?).map { [UInt8]($0) }, answeredAtEpochMillis: row[2])
            }
        }
    }

    public func answeredMessageIds(limit: Int) async throws -> [(id: String, hasReply: Bool)] {
        try await read("answeredMessageIds(\(limit))") { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, reply IS NOT NULL FROM answered_messages ORDER BY seq DESC LIMIT ?
                """, arguments: [max(0, limit)])
            return try Self.newestPerId(rows) { (id: $0[0] as String, hasReply: $0[1] as Bool) }
        }
    }

    /// The newest row for `id`, found by scanning back from the newest answer (there is no index on ids).
    public func answeredMessage(id: String) async throws -> AnsweredMessage? {
        try await read("answeredMessage(id:)") { db in
            try Row.fetchOne(db, sql: """
                SELECT id, reply, answeredAt FROM answered_messages WHERE id = ? ORDER BY seq DESC LIMIT 1
                """, arguments: [id])
                .map { row in
                    AnsweredMessage(id: row[0], reply: (row[1] as Data?).map { [UInt8]($0) },
                                    answeredAtEpochMillis: row[2])
                }
        }
    }

    public func recordAnsweredMessages(
        _ answers: [AnsweredMessage], keepingLast limit: Int, removingOutbox sent: [Int64]
    ) async throws {
        guard !answers.isEmpty || !sent.isEmpty else { return }
        try await write("recordAnsweredMessages(\(answers.count), removingOutbox: \(sent.count))") { db in
            try Self.removeOutbox(sent, in: db)
            let statement = try db.cachedStatement(sql: """
                INSERT INTO answered_messages (id, reply, answeredAt) VALUES (?, ?, ?)
                """)
            for answer in answers {
                try statement.execute(arguments: [answer.id, answer.reply.map { Data($0) }, answer.answeredAtEpochMillis])
            }
            guard !answers.isEmpty else { return }
            // Cached like the insert: this runs once per batch, and parsing it again each time showed in profiles.
            // The oldest rows go: a range at the start of the log.
            try db.cachedStatement(sql: """
                DELETE FROM answered_messages WHERE seq <= (SELECT max(seq) FROM answered_messages) - ?
                """).execute(arguments: [max(1, limit)])
        }
    }

    /// Rows newest first → one value per id (its newest row), oldest first.
    private static func newestPerId<Value>(
        _ rows: RowCursor, _ value: (Row) throws -> Value
    ) throws -> [Value] {
        var seen = Set<String>()
        var newestFirst: [Value] = []
        while let row = try rows.next() {
            guard seen.insert(row[0] as String).inserted else { continue }
            newestFirst.append(try value(row))
        }
        return newestFirst.reversed()
    }
}
