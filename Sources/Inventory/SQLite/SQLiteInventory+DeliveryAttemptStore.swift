import GRDB

extension SQLiteInventory: DeliveryAttemptStore {
    public func recordRedelivery(messageId: String) async throws -> Int {
        let now = storeClock()
        return try await write("recordRedelivery") { db in
            try db.cachedStatement(sql: "DELETE FROM delivery_attempts WHERE updatedAtMillis < ?")
                .execute(arguments: [now - 86_400_000])
            try db.cachedStatement(sql: """
                INSERT INTO delivery_attempts (messageId, redeliveries, updatedAtMillis) VALUES (?, 1, ?)
                ON CONFLICT(messageId) DO UPDATE SET redeliveries = redeliveries + 1, updatedAtMillis = excluded.updatedAtMillis
                """).execute(arguments: [messageId, now])
            return try Int.fetchOne(db, sql: "SELECT redeliveries FROM delivery_attempts WHERE messageId = ?",
                                    arguments: [messageId]) ?? 1
        }
    }
}
