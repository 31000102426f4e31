import Foundation
import GRDB

extension SQLiteInventory: AnsweredMessageStore {
    public func loadAnsweredMessages(limit: Int) async throws -> [AnsweredMessage] {
        try await read("loadAnsweredMessages(\(limit))") { db in
            try Row.fetchAll(db, sql: """
                SELECT id, reply, answeredAt FROM answered_messages ORDER BY rowid DESC LIMIT ?
                """, arguments: [max(0, limit)])
                .map { row in
                    let reply: [UInt8]? = (row[1] as Data?).map { [UInt8]($0) }
                    return AnsweredMessage(id: row[0], reply: reply, answeredAtEpochMillis: row[2])
                }
                .reversed()
        }
    }

    public func answeredMessageIds(limit: Int) async throws -> [(id: String, hasReply: Bool)] {
        try await read("answeredMessageIds(\(limit))") { db in
            try Row.fetchAll(db, sql: """
                SELECT id, reply IS NOT NULL FROM answered_messages ORDER BY rowid DESC LIMIT ?
                """, arguments: [max(0, limit)])
                .map { (id: $0[0] as String, hasReply: $0[1] as Bool) }
                .reversed()
        }
    }

    public func answeredMessage(id: String) async throws -> AnsweredMessage? {
        try await read("answeredMessage(id:)") { db in
            try Row.fetchOne(db, sql: "SELECT id, reply, answeredAt FROM answered_messages WHERE id = ?",
                             arguments: [id])
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
            // REPLACE gives a re-answered id a new, larger rowid: rowid order stays answer order.
            let statement = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO answered_messages (id, reply, answeredAt) VALUES (?, ?, ?)
                """)
            for answer in answers {
                try statement.execute(arguments: [answer.id, answer.reply.map { Data($0) }, answer.answeredAtEpochMillis])
            }
            guard !answers.isEmpty else { return }
            // Cached like the insert: this runs once per batch, and parsing it again each time showed in profiles.
            try db.cachedStatement(sql: """
                DELETE FROM answered_messages WHERE rowid <= (SELECT max(rowid) FROM answered_messages) - ?
                """).execute(arguments: [max(1, limit)])
        }
    }
}
