import Foundation
import Inventory
import Testing

@Suite("Answered-message store (the persisted dedupe window)")
struct AnsweredMessageStoreTests {
    private static func answer(_ number: Int, reply: String? = "reply") -> AnsweredMessage {
        let hex = String(number, radix: 16)
        return AnsweredMessage(id: String(repeating: "0", count: 32 - hex.count) + hex,
                               reply: reply.map { Array("\($0)-\(number)".utf8) },
                               answeredAtEpochMillis: 1_000 + Int64(number))
    }

    @Test("answers come back oldest first, with their reply bytes, a missing reply as nil", arguments: StoreBackend.answerStores)
    func roundTrip(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            #expect(try await inventory.loadAnsweredMessages(limit: 10).isEmpty)
            try await inventory.recordAnsweredMessages([Self.answer(1), Self.answer(2, reply: nil)], keepingLast: 10)
            try await inventory.recordAnsweredMessages([Self.answer(3)], keepingLast: 10)
            #expect(try await inventory.loadAnsweredMessages(limit: 10) == [
                Self.answer(1), Self.answer(2, reply: nil), Self.answer(3),
            ])
            #expect(try await inventory.loadAnsweredMessages(limit: 2) == [Self.answer(2, reply: nil), Self.answer(3)])
        }
    }

    @Test("a re-answered id is replaced and becomes the most recent", arguments: StoreBackend.answerStores)
    func replaceMovesToTheEnd(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.recordAnsweredMessages([Self.answer(1), Self.answer(2)], keepingLast: 10)
            var again = Self.answer(1)
            again.reply = Array("second".utf8)
            try await inventory.recordAnsweredMessages([again], keepingLast: 10)
            #expect(try await inventory.loadAnsweredMessages(limit: 10) == [Self.answer(2), again])
        }
    }

    @Test("a re-answered id is read back as its newest answer, once, by every reader", arguments: StoreBackend.answerStores)
    func reAnsweredIdReadsTheNewest(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.recordAnsweredMessages([Self.answer(1), Self.answer(2)], keepingLast: 10)
            var again = Self.answer(1)
            again.reply = nil
            again.answeredAtEpochMillis = 9_999
            try await inventory.recordAnsweredMessages([again, Self.answer(3)], keepingLast: 10)
            #expect(try await inventory.answeredMessage(id: again.id) == again)
            let ids = try await inventory.answeredMessageIds(limit: 10)
            #expect(ids.map(\.id) == [Self.answer(2).id, again.id, Self.answer(3).id])
            #expect(ids.map(\.hasReply) == [true, false, true])
            #expect(try await inventory.loadAnsweredMessages(limit: 10) == [Self.answer(2), again, Self.answer(3)])
        }
    }

    @Test("only the most recent rows are kept: the store follows the window, not the history", arguments: StoreBackend.answerStores)
    func trimsToTheWindow(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            for batch in 0..<10 {
                try await inventory.recordAnsweredMessages(
                    (0..<10).map { Self.answer(batch * 10 + $0) }, keepingLast: 25)
            }
            let kept = try await inventory.loadAnsweredMessages(limit: 1_000)
            #expect(Array(kept.suffix(25)) == (75...99).map { Self.answer($0) })
            if backend == .sqliteFile {
                // The answer log drops a segment at a time: the window and less than one more behind it.
                #expect(kept.count < 25 + 25 + 10)
                #expect(try await inventory.loadAnsweredMessages(limit: 25) == (75...99).map { Self.answer($0) })
            } else {
                #expect(kept.count == 25)
            }
        }
    }

    @Test("the window survives closing and reopening the file")
    func survivesReopen() async throws {
        let directory = NSTemporaryDirectory() + "cbw-answers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/inventory.sqlite"
        do {
            let inventory = try SQLiteInventory(path: path)
            try await inventory.recordAnsweredMessages([Self.answer(7)], keepingLast: 10)
        }
        let reopened = try SQLiteInventory(path: path)
        #expect(try await reopened.loadAnsweredMessages(limit: 10) == [Self.answer(7)])
    }
}

@Suite("Answered-message store: ids at start, bodies on demand")
struct AnsweredMessageLookupTests {
    @Test("ids come back oldest first with whether a reply exists; one answer is read by id", arguments: StoreBackend.answerStores)
    func idsAndLookup(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let withReply = AnsweredMessage(id: "c0000000000000000000000000000001", reply: [1, 2, 3], answeredAtEpochMillis: 5)
            let without = AnsweredMessage(id: "c0000000000000000000000000000002", reply: nil, answeredAtEpochMillis: 6)
            try await inventory.recordAnsweredMessages([withReply, without], keepingLast: 10)
            let ids = try await inventory.answeredMessageIds(limit: 10)
            #expect(ids.map(\.id) == [withReply.id, without.id])
            #expect(ids.map(\.hasReply) == [true, false])
            #expect(try await inventory.answeredMessage(id: withReply.id) == withReply)
            #expect(try await inventory.answeredMessage(id: "c0000000000000000000000000000009") == nil)
        }
    }
}
