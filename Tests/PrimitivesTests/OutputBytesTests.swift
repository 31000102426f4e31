import Primitives
import Testing

/// The encoder's and the AMQP session's output buffer: appends of every kind, writes into its spare room, patches,
/// rollbacks and the storage it gives back.
@Suite("OutputBytes")
struct OutputBytesTests {
    @Test("the buffer grows past its first capacity and keeps every byte")
    func growth() {
        var output = OutputBytes(capacity: 16)
        var expected: [UInt8] = []
        for round in 0..<300 {
            let piece = Array("piece-\(round);".utf8)
            piece.withUnsafeBytes { output.append($0) }
            output.append(UInt8(ascii: "|"))
            output.append("lit")
            output.append(contentsOf: [UInt8(round & 0xFF)])
            expected += piece + Array("|lit".utf8) + [UInt8(round & 0xFF)]
        }
        #expect(output.count == expected.count)
        #expect(output.reservedCapacity >= expected.count)
        #expect(output.bytes() == expected)
        #expect(output.withBytes { Array($0) } == expected)
        output.removeAll()
        #expect(output.count == 0)
        #expect(output.bytes().isEmpty)
    }

    @Test("a write into the spare room keeps what the writer says it wrote, growing first when needed")
    func appendUninitialized() {
        var output = OutputBytes(capacity: 16)
        output.append("head")
        output.appendUninitialized(capacity: 1_000) { room in
            #expect(room.count == 1_000)
            for index in 0..<5 { room[index] = UInt8(ascii: "0") + UInt8(index) }
            return 5
        }
        output.appendUninitialized(capacity: 8) { _ in 0 }
        output.append("tail")
        #expect(output.bytes() == Array("head01234tail".utf8))
    }

    struct Refused: Error {}

    @Test("a writer that throws keeps nothing")
    func appendUninitializedThrows() {
        var output = OutputBytes()
        output.append("kept")
        #expect(throws: Refused.self) {
            try output.appendUninitialized(capacity: 64) { (room: UnsafeMutableRawBufferPointer) throws(Refused) -> Int in
                room[0] = 0xFF
                throw Refused()
            }
        }
        #expect(output.bytes() == Array("kept".utf8))
    }

    @Test("a patch overwrites bytes in place; a rollback drops the suffix only")
    func storeAndRollback() {
        var output = OutputBytes()
        output.append("frame:")
        let sizeAt = output.count
        output.append("????")
        output.append("payload")
        output.store(UInt32(7).bigEndian, at: sizeAt)
        #expect(output.bytes() == Array("frame:".utf8) + [0, 0, 0, 7] + Array("payload".utf8))
        let rollback = output.count
        output.append("half a frame")
        output.removeSuffix(from: rollback)
        #expect(output.count == rollback)
        output.append("!")
        #expect(output.bytes().last == UInt8(ascii: "!"))
    }

    @Test("past the kept capacity the storage is given back and the buffer starts over small")
    func givesBackLargeStorage() {
        var output = OutputBytes(capacity: 64)
        output.appendUninitialized(capacity: 10_000) { _ in 10_000 }
        #expect(output.reservedCapacity >= 10_000)
        output.removeAll(keepingCapacityUpTo: 20_000, initialCapacity: 64)
        #expect(output.count == 0)
        #expect(output.reservedCapacity >= 10_000, "under the limit: kept")
        output.appendUninitialized(capacity: 30_000) { _ in 30_000 }
        output.removeAll(keepingCapacityUpTo: 20_000, initialCapacity: 64)
        #expect(output.count == 0)
        #expect(output.reservedCapacity == 64)
        output.append("again")
        #expect(output.bytes() == Array("again".utf8))
    }
}
