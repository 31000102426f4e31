import Foundation
import GRDB
import GRDBSQLite

/// The window is an append-only log (migration `v9-answer-log`): `seq` is answer order, a re-answered id has a second,
/// newer row, and readers keep the newest row of each id. No index on the id: see the migration for why, and for
/// what a lookup by id costs.
extension SQLiteInventory: BlockingAnswerRecorder {
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
            try Self.record(answers, keepingLast: limit, removingOutbox: sent, in: db)
        }
    }

    public func recordAnsweredMessagesBlocking(
        _ answers: [AnsweredMessage], keepingLast limit: Int, removingOutbox sent: [Int64]
    ) throws {
        guard !answers.isEmpty || !sent.isEmpty else { return }
        try writeBlocking("recordAnsweredMessages(\(answers.count), removingOutbox: \(sent.count))") { db in
            try Self.record(answers, keepingLast: limit, removingOutbox: sent, in: db)
        }
    }

    /// One batch of answers: the outbox rows removed, the answers appended, the log trimmed to its window.
    private static func record(
        _ answers: [AnsweredMessage], keepingLast limit: Int, removingOutbox sent: [Int64], in db: Database
    ) throws {
        try removeOutbox(sent, in: db)
        let statement = try db.cachedStatement(sql: """
            INSERT INTO answered_messages (id, reply, answeredAt) VALUES (?, ?, ?)
            """)
        for answer in answers { try insert(answer, with: statement, in: db) }
        guard !answers.isEmpty else { return }
        // Cached like the insert: this runs once per batch, and parsing it again each time showed in profiles.
        // The oldest rows go: a range at the start of the log.
        try db.cachedStatement(sql: """
            DELETE FROM answered_messages WHERE seq <= (SELECT max(seq) FROM answered_messages) - ?
            """).execute(arguments: [max(1, limit)])
    }

    /// One answer into the log, its id and reply bound in place (`SQLITE_STATIC`) and stepped directly. Every
    /// answer of the worker passes here: `execute(arguments:)` made two argument arrays and a `Data` copy of the
    /// reply per row (4 of an echo's allocations). Bypassing GRDB's execution is sound here because nothing
    /// observes this table (no transaction observers in this process) and the statement runs inside `write`'s
    /// transaction; the bindings are cleared before the bound memory goes away.
    private static func insert(_ answer: AnsweredMessage, with statement: Statement, in db: Database) throws {
        let raw = statement.sqliteStatement
        sqlite3_reset(raw)
        defer {
            sqlite3_reset(raw)
            sqlite3_clear_bindings(raw)
        }
        var id = answer.id
        let code = id.withUTF8 { id -> CInt in
            // An empty buffer may have no address, which SQLite would bind as NULL: bind an empty value instead.
            if let address = id.baseAddress {
                sqlite3_bind_text(raw, 1, address, CInt(id.count), nil)
            } else {
                sqlite3_bind_text(raw, 1, "", 0, nil)
            }
            sqlite3_bind_int64(raw, 3, answer.answeredAtEpochMillis)
            guard let reply = answer.reply else {
                sqlite3_bind_null(raw, 2)
                return sqlite3_step(raw)
            }
            return reply.withUnsafeBytes { reply in
                if let address = reply.baseAddress {
                    sqlite3_bind_blob(raw, 2, address, CInt(reply.count), nil)
                } else {
                    sqlite3_bind_zeroblob(raw, 2, 0)
                }
                return sqlite3_step(raw)
            }
        }
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
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
