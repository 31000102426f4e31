import Inventory
import PostgresNIO

extension PostgresInventory: DeliveryAttemptStore {
    public func recordRedelivery(messageId: String) async throws -> Int {
        try await transaction("recordRedelivery") { connection in
            try await connection.query(
                "DELETE FROM delivery_attempts WHERE updated_at < clock_timestamp() - interval '1 day'",
                logger: Self.quiet
            ).drain()
            let counts = try await connection.query("""
                INSERT INTO delivery_attempts (message_id, redeliveries, updated_at)
                VALUES (\(messageId), 1, clock_timestamp())
                ON CONFLICT (message_id) DO UPDATE
                SET redeliveries = delivery_attempts.redeliveries + 1, updated_at = excluded.updated_at
                RETURNING redeliveries
                """, logger: Self.quiet).collect(Int.self)
            return counts.first ?? 1
        }
    }
}
