import Foundation
import GRDB
import Inventory
import Testing

/// The answer log on real files: what a crash leaves (a torn or corrupt record), rotation keeping the window, one
/// writer per directory, and the move from the table an earlier build wrote.
@Suite("Answer log (a file database's dedupe window)")
struct AnswerLogTests {
    private static func answer(_ number: Int, reply: String? = "reply") -> AnsweredMessage {
        AnsweredMessage(id: uuid(number, kind: 0xe), reply: reply.map { Array("\($0)-\(number)".utf8) },
                        answeredAtEpochMillis: 1_000 + Int64(number))
    }

    /// The segment files of `directory`, oldest first.
    private static func segments(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
    }

    private static func size(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    @Test("a torn last write is cut: the whole records before it are read, and the next append follows them")
    func tornTail() async throws {
        try await withTemporaryDirectory { scratch in
            let directory = scratch.path + "/answers"
            do {
                let log = AnswerLog(directory: directory)
                try log.append([Self.answer(1), Self.answer(2)], keepingLast: 100)
                try log.append([Self.answer(3)], keepingLast: 100)
            }
            let segment = directory + "/" + (try #require(try Self.segments(directory).first))
            let whole = try Self.size(segment)
            // A crash inside the third record's write: its last five bytes never reached the disk.
            let handle = try #require(FileHandle(forUpdatingAtPath: segment))
            try handle.truncate(atOffset: UInt64(whole - 5))
            try handle.close()

            let log = AnswerLog(directory: directory)
            #expect(try log.answeredMessages(limit: 10) == [Self.answer(1), Self.answer(2)])
            try log.append([Self.answer(4)], keepingLast: 100)
            #expect(try log.answeredMessages(limit: 10) == [Self.answer(1), Self.answer(2), Self.answer(4)])
            // The torn bytes are gone, not skipped: the file is exactly the three whole records.
            #expect(try Self.size(segment) == whole)  // records 3 and 4 have the same length
        }
    }

    @Test("a record that fails its CRC ends the log there; the writer cuts it before appending")
    func corruptRecord() async throws {
        try await withTemporaryDirectory { scratch in
            let directory = scratch.path + "/answers"
            let segment: String
            let firstEnd: Int
            do {
                let log = AnswerLog(directory: directory)
                try log.append([Self.answer(1)], keepingLast: 100)
                segment = directory + "/" + (try #require(try Self.segments(directory).first))
                firstEnd = try Self.size(segment)
                try log.append([Self.answer(2)], keepingLast: 100)
                try log.append([Self.answer(3)], keepingLast: 100)
            }
            // One bit of the second record's reply flipped.
            let handle = try #require(FileHandle(forUpdatingAtPath: segment))
            let offset = UInt64(try Self.size(segment) - (try Self.size(segment) - firstEnd) / 2 - 3)
            try handle.seek(toOffset: offset)
            let byte = try #require(try handle.read(upToCount: 1)).first!
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: [byte ^ 0x01])
            try handle.close()

            let log = AnswerLog(directory: directory)
            #expect(try log.answeredMessageIds(limit: 10).map(\.id) == [Self.answer(1).id])
            #expect(try log.answeredMessage(id: Self.answer(3).id) == nil)
            try log.append([Self.answer(4)], keepingLast: 100)
            #expect(try log.answeredMessages(limit: 10) == [Self.answer(1), Self.answer(4)])
        }
    }

    @Test("at most two segments; the last keepingLast answers are readable after every batch")
    func rotationKeepsTheWindow() async throws {
        try await withTemporaryDirectory { scratch in
            let directory = scratch.path + "/answers"
            do {
                let log = AnswerLog(directory: directory)
                for number in 0..<57 {
                    try log.append([Self.answer(number)], keepingLast: 10)
                    let expected = (max(0, number - 9)...number).map { Self.answer($0).id }
                    #expect(try log.answeredMessageIds(limit: 10).map(\.id) == expected, "after answer \(number)")
                    #expect(try Self.segments(directory).count <= 2, "after answer \(number)")
                }
                // What left the window left the disk: the two segments hold fewer than two windows' worth.
                #expect(try log.answeredMessageIds(limit: 1_000).count < 20)
                #expect(try log.answeredMessage(id: Self.answer(56).id) == Self.answer(56))
                #expect(try log.answeredMessage(id: Self.answer(47).id) == Self.answer(47))
                #expect(try log.answeredMessage(id: Self.answer(10).id) == nil)
            }
            // A reopened log carries on from the newest segment.
            let reopened = AnswerLog(directory: directory)
            try reopened.append([Self.answer(57)], keepingLast: 10)
            #expect(try reopened.answeredMessageIds(limit: 10).map(\.id) == (48...57).map { Self.answer($0).id })
        }
    }

    @Test("a lookup by id reads the newest answer for it, across segments")
    func lookupTakesTheNewest() async throws {
        try await withTemporaryDirectory { scratch in
            let log = AnswerLog(directory: scratch.path + "/answers")
            try log.append([Self.answer(1), Self.answer(2), Self.answer(3)], keepingLast: 3)  // then rotates
            var again = Self.answer(1, reply: nil)
            again.answeredAtEpochMillis = 9_999
            try log.append([again], keepingLast: 3)  // in the new segment; the first answer for its id in the old
            #expect(try log.answeredMessage(id: again.id) == again)
            #expect(try log.answeredMessages(limit: 3) == [Self.answer(2), Self.answer(3), again])
        }
    }

    @Test("a second writer on the same directory is refused, naming why, until the first is released")
    func oneWriter() async throws {
        try await withTemporaryDirectory { scratch in
            let directory = scratch.path + "/answers"
            var first: AnswerLog? = AnswerLog(directory: directory)
            try first?.append([Self.answer(1)], keepingLast: 10)
            let second = AnswerLog(directory: directory)
            do {
                try second.append([Self.answer(2)], keepingLast: 10)
                Issue.record("a second writer appended beside the first")
            } catch let error as InventoryError {
                #expect(error.description.contains("another writer holds this answer log"), "\(error)")
            }
            // Readers take no lock.
            #expect(try second.answeredMessageIds(limit: 10).map(\.id) == [Self.answer(1).id])
            first = nil
            try second.append([Self.answer(2)], keepingLast: 10)
            #expect(try second.answeredMessageIds(limit: 10).map(\.id) == [Self.answer(1).id, Self.answer(2).id])
            _ = first
        }
    }

    @Test("answers an earlier build kept in answered_messages move into the log at first use, and leave the table")
    func movesTheTable() async throws {
        try await withTemporaryDatabasePath { path in
            _ = try SQLiteInventory(path: path)  // the schema
            do {
                let database = try DatabaseQueue(path: path)
                try await database.write { db in
                    for number in 1...3 {
                        let answer = Self.answer(number, reply: number == 2 ? nil : "reply")
                        try db.execute(sql: "INSERT INTO answered_messages (id, reply, answeredAt) VALUES (?, ?, ?)",
                                       arguments: [answer.id, answer.reply.map { Data($0) }, answer.answeredAtEpochMillis])
                    }
                }
                try database.close()
            }
            let inventory = try SQLiteInventory(path: path)
            #expect(try await inventory.answeredMessageIds(limit: 10).map(\.hasReply) == [true, false, true])
            #expect(try await inventory.answeredMessage(id: Self.answer(3).id) == Self.answer(3))
            try await inventory.recordAnsweredMessages([Self.answer(4)], keepingLast: 10)
            #expect(try await inventory.loadAnsweredMessages(limit: 10).map(\.id) == (1...4).map { Self.answer($0).id })
            let left = try await DatabaseQueue(path: path).read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM answered_messages")
            }
            #expect(left == 0)
            #expect(try Self.segments(path + "-answers").count == 1)
        }
    }
}
