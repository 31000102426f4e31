import Foundation
import Inventory
import NIOCore
import PostgresNIO

extension PostgresInventory: AnsweredMessageStore {
    public func loadAnsweredMessages(limit: Int) async throws -> [AnsweredMessage] {
        try await bounded("loadAnsweredMessages(\(limit))") { client in
            var answers: [AnsweredMessage] = []
            for try await (id, reply, at) in try await client.query("""
                SELECT id, reply, answered_at FROM answered_messages ORDER BY answer_order DESC LIMIT \(max(0, limit))
                """).decode((String, ByteBuffer?, Int64).self) {
                answers.append(AnsweredMessage(id: id, reply: reply.map { Array($0.readableBytesView) },
                                               answeredAtEpochMillis: at))
            }
            return answers.reversed()
        }
    }

    public func answeredMessageIds(limit: Int) async throws -> [(id: String, hasReply: Bool)] {
        let rows = try await bounded("answeredMessageIds(\(limit))") { client in
            var rows: [Row] = []
            for try await (id, hasReply) in try await client.query("""
                SELECT id, reply IS NOT NULL FROM answered_messages ORDER BY answer_order DESC LIMIT \(max(0, limit))
                """).decode((String, Bool).self) {
                rows.append(Row(id: id, hasReply: hasReply))
            }
            return rows
        }
        return rows.reversed().map { (id: $0.id, hasReply: $0.hasReply) }
    }

    /// A tuple is not Sendable across the bound; this is.
    private struct Row: Sendable {
        var id: String
        var hasReply: Bool
    }

    public func answeredMessage(id: String) async throws -> AnsweredMessage? {
        try await bounded("answeredMessage(id:)") { client in
            var found: AnsweredMessage?
            for try await (id, reply, at) in try await client.query(
                "SELECT id, reply, answered_at FROM answered_messages WHERE id = \(id)"
            ).decode((String, ByteBuffer?, Int64).self) {
                found = AnsweredMessage(id: id, reply: reply.map { Array($0.readableBytesView) },
                                        answeredAtEpochMillis: at)
            }
            return found
        }
    }

    /// One statement for the whole batch (arrays unnested), whatever its size: the group commit stays one round
    /// trip plus the trim, not one per answer.
    public func recordAnsweredMessages(
        _ answers: [AnsweredMessage], keepingLast limit: Int, removingOutbox sent: [Int64]
    ) async throws {
        guard !answers.isEmpty || !sent.isEmpty else { return }
        // A later answer for the same id in one batch replaces the earlier one (ON CONFLICT cannot touch a row
        // twice in one statement, so the batch keeps each id's last answer, in answer order).
        var lastIndex: [String: Int] = [:]
        for (index, answer) in answers.enumerated() { lastIndex[answer.id] = index }
        let kept = answers.enumerated().filter { lastIndex[$0.element.id] == $0.offset }.map(\.element)
        let ids = kept.map(\.id)
        let hasReply = kept.map { $0.reply != nil }
        let replies = kept.map { ByteBuffer(bytes: $0.reply ?? []) }
        let times = kept.map(\.answeredAtEpochMillis)
        let owner = self.owner
        try await transaction("recordAnsweredMessages(\(answers.count), removingOutbox: \(sent.count))") { connection in
            if !sent.isEmpty {
                try await connection.query(
                    "DELETE FROM outbox WHERE owner = \(owner) AND seq = ANY(\(sent))", logger: Self.quiet)
            }
            guard !ids.isEmpty else { return }
            // WITH ORDINALITY keeps the batch's order, so answer order within it is the order given.
            try await connection.query("""
                INSERT INTO answered_messages (id, reply, answered_at)
                SELECT id, CASE WHEN has_reply THEN reply END, answered_at
                FROM unnest(\(ids)::text[], \(hasReply)::bool[], \(replies)::bytea[], \(times)::bigint[])
                    WITH ORDINALITY AS batch(id, has_reply, reply, answered_at, position)
                ORDER BY position
                ON CONFLICT (id) DO UPDATE SET
                    reply = excluded.reply, answered_at = excluded.answered_at,
                    answer_order = nextval('answered_messages_order')
                """, logger: Self.quiet)
            try await connection.query("""
                DELETE FROM answered_messages
                WHERE answer_order <= (SELECT max(answer_order) FROM answered_messages) - \(max(1, limit))
                """, logger: Self.quiet)
        }
    }
}

extension PostgresInventory: OutboxStore {
    public func pendingOutbox(key: String?) async throws -> [OutboxEntry] {
        let owner = self.owner
        return try await bounded("pendingOutbox(key: \(key ?? "*"))") { client in
            let rows = if let key {
                try await client.query("""
                    SELECT seq, key, kind, destination, body, expiration_millis FROM outbox
                    WHERE owner = \(owner) AND key = \(key) ORDER BY seq
                    """)
            } else {
                try await client.query("""
                    SELECT seq, key, kind, destination, body, expiration_millis FROM outbox
                    WHERE owner = \(owner) ORDER BY seq
                    """)
            }
            var entries: [OutboxEntry] = []
            for try await (seq, key, kind, destination, body, expiration)
                in rows.decode((Int64, String, String, String, ByteBuffer, Int64?).self)
            {
                let target = try OutboxTarget(storedKind: kind, destination: destination, seq: seq)
                entries.append(OutboxEntry(seq: seq, key: key, message: OutboxMessage(
                    target: target, body: Array(body.readableBytesView), expirationMillis: expiration)))
            }
            return entries
        }
    }

    public func pendingOutboxKeys() async throws -> [String] {
        let owner = self.owner
        return try await bounded("pendingOutboxKeys") { client in
            try await client.query("SELECT DISTINCT key FROM outbox WHERE owner = \(owner) ORDER BY key")
                .collect(String.self)
        }
    }

    public func removeOutbox(seqs: [Int64]) async throws {
        guard !seqs.isEmpty else { return }
        let owner = self.owner
        try await bounded("removeOutbox(\(seqs.count))") { client in
            try await client.query("DELETE FROM outbox WHERE owner = \(owner) AND seq = ANY(\(seqs))").drain()
        }
    }

    /// Writes `messages` under `key` for `owner` inside the caller's transaction and returns the rows, in order.
    static func insertOutbox(
        _ messages: [OutboxMessage], key: String, owner: String, on connection: PostgresConnection
    ) async throws -> [OutboxEntry] {
        var entries: [OutboxEntry] = []
        for message in messages {
            let (kind, destination) = message.target.storedColumns
            let seqs = try await connection.query("""
                INSERT INTO outbox (owner, key, kind, destination, body, expiration_millis)
                VALUES (\(owner), \(key), \(kind), \(destination), \(ByteBuffer(bytes: message.body)),
                        \(message.expirationMillis))
                RETURNING seq
                """, logger: quiet).collect(Int64.self)
            guard let seq = seqs.first else {
                throw InventoryError.storage(operation: "insertOutbox", path: nil, reason: "INSERT returned no seq")
            }
            entries.append(OutboxEntry(seq: seq, key: key, message: message))
        }
        return entries
    }
}
