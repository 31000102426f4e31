import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// A file database keeps the window in its ``AnswerLog`` (beside the file); an in-memory one in `answered_messages`,
/// an append-only table (migration `v9-answer-log`: `seq` is answer order, a re-answered id has a second, newer row,
/// and readers keep the newest row of each id; no index on the id).
extension SQLiteInventory: BlockingAnswerRecorder {
    public func loadAnsweredMessages(limit: Int) async throws -> [AnsweredMessage] {
        if answerLog != nil { return try await onLogQueue { try $0.answeredMessages(limit: limit) } }
        return try await read("loadAnsweredMessages(\(limit))") { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, reply, answeredAt FROM answered_messages ORDER BY seq DESC LIMIT ?
                """, arguments: [max(0, limit)])
            return try Self.newestPerId(rows) { row in
                AnsweredMessage(id: row[0], reply: (row[1] as Data?).map { [UInt8]($0) }, answeredAtEpochMillis: row[2])
            }
        }
    }

    public func answeredMessageIds(limit: Int) async throws -> [(id: String, hasReply: Bool)] {
        if answerLog != nil { return try await onLogQueue { try $0.answeredMessageIds(limit: limit) } }
        return try await read("answeredMessageIds(\(limit))") { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT id, reply IS NOT NULL FROM answered_messages ORDER BY seq DESC LIMIT ?
                """, arguments: [max(0, limit)])
            return try Self.newestPerId(rows) { (id: $0[0] as String, hasReply: $0[1] as Bool) }
        }
    }

    /// The newest answer for `id`, found by a scan (neither the log nor the table has an index on ids).
    public func answeredMessage(id: String) async throws -> AnsweredMessage? {
        if answerLog != nil { return try await onLogQueue { try $0.answeredMessage(id: id) } }
        return try await read("answeredMessage(id:)") { db in
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
        if answerLog != nil {
            try await onLogQueue { _ in try self.recordAnsweredMessagesBlocking(answers, keepingLast: limit, removingOutbox: sent) }
            return
        }
        try await write("recordAnsweredMessages(\(answers.count), removingOutbox: \(sent.count))") { db in
            try Self.record(answers, keepingLast: limit, removingOutbox: sent, in: db)
        }
    }

    /// A file database: the answers are appended to the log and synced first, then the outbox rows go in a
    /// transaction of their own. A crash between the two leaves rows whose messages were confirmed; they are
    /// published again at start with the ids they were written with — the outbox's at-least-once, never a lost row.
    public func recordAnsweredMessagesBlocking(
        _ answers: [AnsweredMessage], keepingLast limit: Int, removingOutbox sent: [Int64]
    ) throws {
        guard !answers.isEmpty || !sent.isEmpty else { return }
        if let log = try movedAnswerLog() {
            try log.append(answers, keepingLast: limit)
            guard !sent.isEmpty else { return }
            try writeBlocking("removeOutbox(\(sent.count))") { db in try Self.removeOutbox(sent, in: db) }
            return
        }
        try writeBlocking("recordAnsweredMessages(\(answers.count), removingOutbox: \(sent.count))") { db in
            try Self.record(answers, keepingLast: limit, removingOutbox: sent, in: db)
        }
    }

    /// The answer log, once the rows an earlier build kept in `answered_messages` are in it (moved on first use:
    /// appended and synced, then deleted — a crash between appends them twice, which readers take as re-answers).
    /// Nil for an in-memory database.
    private func movedAnswerLog() throws -> AnswerLog? {
        guard let answerLog else { return nil }
        try answerTableMoved.withLock { moved in
            guard !moved else { return }
            let rows = try database.read { db in
                try Row.fetchAll(db, sql: "SELECT id, reply, answeredAt FROM answered_messages ORDER BY seq")
            }
            if !rows.isEmpty {
                try answerLog.append(rows.map { row in
                    AnsweredMessage(id: row[0], reply: (row[1] as Data?).map { [UInt8]($0) },
                                    answeredAtEpochMillis: row[2])
                }, keepingLast: .max)
                try database.write { db in try db.execute(sql: "DELETE FROM answered_messages") }
            }
            moved = true
        }
        return answerLog
    }

    /// `body` with the (moved) answer log on a dispatch queue: the log blocks its thread on file I/O, which must not
    /// be one of Swift's pool.
    private func onLogQueue<T: Sendable>(_ body: @escaping @Sendable (AnswerLog) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result {
                    guard let log = try self.movedAnswerLog() else { preconditionFailure("a file database has a log") }
                    return try body(log)
                })
            }
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
