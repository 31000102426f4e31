import Foundation
import GRDB

extension SQLiteInventory: OutboxStore {
    public func pendingOutbox(key: String?) async throws -> [OutboxEntry] {
        try await read("pendingOutbox(key: \(key ?? "*"))") { db in
            let sql = "SELECT seq, key, kind, destination, body, expirationMillis FROM outbox"
            let rows = if let key {
                try Row.fetchAll(db, sql: sql + " WHERE key = ? ORDER BY seq", arguments: [key])
            } else {
                try Row.fetchAll(db, sql: sql + " ORDER BY seq")
            }
            return try rows.map(Self.outboxEntry)
        }
    }

    public func pendingOutboxKeys() async throws -> [String] {
        try await read("pendingOutboxKeys") { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT key FROM outbox ORDER BY key")
        }
    }

    public func removeOutbox(seqs: [Int64]) async throws {
        guard !seqs.isEmpty else { return }
        try await write("removeOutbox(\(seqs.count))") { db in try Self.removeOutbox(seqs, in: db) }
    }

    /// Writes `messages` under `key` inside the caller's transaction and returns the rows, in order.
    static func insertOutbox(_ messages: [OutboxMessage], key: String, in db: Database) throws -> [OutboxEntry] {
        guard !messages.isEmpty else { return [] }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO outbox (key, kind, destination, body, expirationMillis, createdAt) VALUES (?, ?, ?, ?, ?, ?)
            """)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try messages.map { message in
            let (kind, destination) = message.target.storedColumns
            try statement.execute(arguments: [key, kind, destination, Data(message.body), message.expirationMillis, now])
            return OutboxEntry(seq: db.lastInsertedRowID, key: key, message: message)
        }
    }

    static func removeOutbox(_ seqs: [Int64], in db: Database) throws {
        let statement = try db.cachedStatement(sql: "DELETE FROM outbox WHERE seq = ?")
        for seq in seqs { try statement.execute(arguments: [seq]) }
    }

    private static func outboxEntry(_ row: Row) throws -> OutboxEntry {
        let target = try OutboxTarget(storedKind: row[2], destination: row[3], seq: row[0])
        let body: Data = row[4]
        return OutboxEntry(seq: row[0], key: row[1],
                           message: OutboxMessage(target: target, body: [UInt8](body), expirationMillis: row[5]))
    }
}
