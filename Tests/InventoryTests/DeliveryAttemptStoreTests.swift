import Foundation
@testable import Inventory
import Testing

@Suite("Delivery attempt store")
struct DeliveryAttemptStoreTests {
    @Test(arguments: StoreBackend.available)
    func redeliveriesCountPerMessageAndAcrossStores(_ backend: StoreBackend) async throws {
        try await backend.withDatabase { database in
            // Two workers on one store (or one worker restarted): each redelivery is counted once, wherever it lands.
            let first = try await database.open()
            let second = try await database.open()
            let id = "0123456789abcdef0123456789abcdef", other = "fedcba9876543210fedcba9876543210"
            #expect(try await first.recordRedelivery(messageId: id) == 1)
            #expect(try await second.recordRedelivery(messageId: id) == 2)
            #expect(try await first.recordRedelivery(messageId: other) == 1)
            #expect(try await first.recordRedelivery(messageId: id) == 3)
        }
    }

    @Test func countsOlderThanADayAreForgotten() async throws {
        let clock = TestStoreClock()
        let inventory = try SQLiteInventory.inMemory(clock: clock.read)
        let id = "0123456789abcdef0123456789abcdef"
        #expect(try await inventory.recordRedelivery(messageId: id) == 1)
        #expect(try await inventory.recordRedelivery(messageId: id) == 2)
        clock.advance(millis: 86_400_001)
        #expect(try await inventory.recordRedelivery(messageId: id) == 1)
    }
}
