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

    /// Each answer's record: an 8-byte header, time, flags, id length, a 32-byte id and "reply-<digit>".
    private static let recordSize = 8 + 11 + 32 + 7

    /// Overwrites `bytes` at `offset` of `path`.
    private static func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: bytes)
        try handle.close()
    }

    private static func contents(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
        let handle = try #require(FileHandle(forReadingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        return [UInt8](try #require(try handle.read(upToCount: count)))
    }

    /// Appends `batches` with a log released afterwards (what a stopped worker leaves) and returns its one segment.
    private static func segmentWritten(in directory: String, _ batches: [[AnsweredMessage]]) throws -> String {
        do {
            let log = AnswerLog(directory: directory)
            for batch in batches { try log.append(batch, keepingLast: 100) }
        }
        return directory + "/" + (try #require(try segments(directory).first))
    }

    @Test("a torn last write ends the log: the whole records before it are read, and what it left is zeroed")
    func tornTail() async throws {
        try await withTemporaryDirectory { scratch in
            let directory = scratch.path + "/answers"
            let segment = try Self.segmentWritten(in: directory, [[Self.answer(1), Self.answer(2)], [Self.answer(3)]])
            // Appends overwrite zeros written ahead: the file is a whole extent, zeros after the records.
            #expect(try Self.size(segment) == 4 << 20)
            #expect(try Self.contents(segment, at: 3 * Self.recordSize, count: 64) == [UInt8](repeating: 0, count: 64))
            // A crash inside a larger batch's write: the third record's end and what followed it are garbage.
            try Self.overwrite(segment, at: 3 * Self.recordSize - 5, with: [UInt8](repeating: 0xAA, count: 40))

            let log = AnswerLog(directory: directory)
            #expect(try log.answeredMessages(limit: 10) == [Self.answer(1), Self.answer(2)])
            try log.append([Self.answer(4)], keepingLast: 100)
            #expect(try log.answeredMessages(limit: 10) == [Self.answer(1), Self.answer(2), Self.answer(4)])
            // The garbage beyond the new record is gone, not merely unread.
            #expect(try Self.contents(segment, at: 3 * Self.recordSize, count: 64) == [UInt8](repeating: 0, count: 64))
        }
    }

    @Test("a header whose length runs past the end of the file ends the log, and the writer appends over it")
    func lengthPastTheEnd() async throws {
        try await withTemporaryDirectory { scratch in
            let directory = scratch.path + "/answers"
            let segment = try Self.segmentWritten(in: directory, [[Self.answer(1)]])
            // A torn header: a length of 1 GiB − 1, where the file (one 4 MiB extent) ends long before.
            try Self.overwrite(segment, at: Self.recordSize, with: [0xFF, 0xFF, 0xFF, 0x3F, 1, 2, 3, 4])

            let log = AnswerLog(directory: directory)
            #expect(try log.answeredMessageIds(limit: 10).map(\.id) == [Self.answer(1).id])
            #expect(try log.answeredMessage(id: Self.answer(2).id) == nil)
            try log.append([Self.answer(2)], keepingLast: 100)
            #expect(try log.answeredMessages(limit: 10) == [Self.answer(1), Self.answer(2)])
        }
    }

    @Test("a record that fails its CRC ends the log there; the writer appends over it")
    func corruptRecord() async throws {
        try await withTemporaryDirectory { scratch in
            let directory = scratch.path + "/answers"
            let segment = try Self.segmentWritten(in: directory, (1...3).map { [Self.answer($0)] })
            // One bit of the second record's reply flipped.
            let offset = 2 * Self.recordSize - 3
            let byte = try Self.contents(segment, at: offset, count: 1)[0]
            try Self.overwrite(segment, at: offset, with: [byte ^ 0x01])

            let log = AnswerLog(directory: directory)
            #expect(try log.answeredMessageIds(limit: 10).map(\.id) == [Self.answer(1).id])
            #expect(try log.answeredMessage(id: Self.answer(2).id) == nil)
            // A lookup checks the CRC of what it finds only (a search of the whole window, made by every duplicate
            // after a restart): until the writer opens, it still finds the whole record behind the corrupt one.
            #expect(try log.answeredMessage(id: Self.answer(3).id) == Self.answer(3))
            try log.append([Self.answer(4)], keepingLast: 100)
            #expect(try log.answeredMessages(limit: 10) == [Self.answer(1), Self.answer(4)])
            #expect(try log.answeredMessage(id: Self.answer(3).id) == nil)
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
