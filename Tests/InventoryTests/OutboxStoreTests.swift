import Foundation
import Inventory
import Testing

@Suite("Outbox: written with the state change, removed once confirmed")
struct OutboxStoreTests {
    private static let vm = "b0000000000000000000000000000001"
    private static let host = "a0000000000000000000000000000001"

    private static func event(_ text: String) -> OutboxMessage {
        OutboxMessage(target: .event(routingKey: "key.event.LOCAL.canonicalEvent"), body: Array(text.utf8))
    }

    private static func seed(_ inventory: any InventoryBackend) async throws {
        try await inventory.upsertHosts([HostRecord(uuid: host, managementIp: "127.0.0.1", status: .connected)])
        try await inventory.upsertVms([VmRecord(uuid: vm, state: .starting, hostUuid: host)])
    }

    @Test("a VM change and its messages are written together; rows come back per key, in order, until removed", arguments: StoreBackend.available)
    func vmChangeWritesItsMessages(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await Self.seed(inventory)
            let (update, rows) = try await inventory.updateVm(
                uuid: Self.vm, outboxKey: Self.vm, { $0.state = .running },
                messages: { update in [Self.event("\(update.before.state.rawValue)->\(update.after.state.rawValue)"),
                                       OutboxMessage(target: .service("host.x"), body: [1], expirationMillis: 5_000)] })
            #expect(update.after.state == .running)
            #expect(rows.map(\.message) == [Self.event("Starting->Running"),
                                             OutboxMessage(target: .service("host.x"), body: [1], expirationMillis: 5_000)])
            #expect(rows[0].seq < rows[1].seq)
            #expect(try await inventory.pendingOutbox(key: Self.vm) == rows)
            #expect(try await inventory.pendingOutbox(key: "another key").isEmpty)
            #expect(try await inventory.pendingOutbox(key: nil) == rows)
            #expect(try await inventory.pendingOutboxKeys() == [Self.vm])
            try await inventory.removeOutbox(seqs: [rows[0].seq])
            #expect(try await inventory.pendingOutbox(key: nil) == [rows[1]])
        }
    }

    @Test("a refused change writes no messages: state and announcements are kept or lost together", arguments: StoreBackend.available)
    func refusedChangeWritesNothing(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await Self.seed(inventory)
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                _ = try await inventory.updateVm(uuid: Self.vm, outboxKey: Self.vm, { _ in throw Refused() },
                                                 messages: { _ in [Self.event("never")] })
            }
            await #expect(throws: Refused.self) {
                _ = try await inventory.updateVm(uuid: Self.vm, outboxKey: Self.vm, { $0.state = .running },
                                                 messages: { _ in throw Refused() })
            }
            #expect(try await inventory.vm(uuid: Self.vm)?.state == .starting, "a throwing message builder aborts the change")
            #expect(try await inventory.pendingOutbox(key: nil).isEmpty)
        }
    }

    @Test("a host status change announces only what its builder returns for the previous status", arguments: StoreBackend.available)
    func hostStatusChange(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await Self.seed(inventory)
            let first = try await inventory.updateHostStatus(
                uuid: Self.host, to: .disconnected, outboxKey: Self.host,
                messages: { previous in previous == .disconnected ? [] : [Self.event("disconnected")] })
            #expect(first.previous == .connected)
            #expect(first.outbox.map(\.message) == [Self.event("disconnected")])
            let again = try await inventory.updateHostStatus(
                uuid: Self.host, to: .disconnected, outboxKey: Self.host,
                messages: { previous in previous == .disconnected ? [] : [Self.event("disconnected")] })
            #expect(again.previous == .disconnected)
            #expect(again.outbox.isEmpty)
            #expect(try await inventory.pendingOutbox(key: Self.host).count == 1)
        }
    }

    @Test("rows confirmed with an answer go with the answer's commit (SQLite on a file: right after its log append)",
          arguments: StoreBackend.answerStores)
    func removedWithTheAnswer(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await Self.seed(inventory)
            let (_, rows) = try await inventory.updateVm(uuid: Self.vm, outboxKey: Self.vm, { $0.state = .running },
                                                         messages: { _ in [Self.event("a"), Self.event("b")] })
            try await inventory.recordAnsweredMessages(
                [AnsweredMessage(id: "c0000000000000000000000000000001", reply: nil, answeredAtEpochMillis: 1)],
                keepingLast: 10, removingOutbox: rows.map(\.seq))
            #expect(try await inventory.pendingOutbox(key: nil).isEmpty)
            #expect(try await inventory.loadAnsweredMessages(limit: 10).count == 1)
        }
    }
}
