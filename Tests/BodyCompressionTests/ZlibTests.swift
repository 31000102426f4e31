import BodyCompression
import Testing

@Suite("zlib bodies")
struct ZlibTests {
    @Test("what is deflated inflates back, byte for byte", arguments: [0, 1, 100, 300_000])
    func roundTrip(size: Int) throws {
        let original = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 7) }
        let compressed = Zlib.deflate(original)
        #expect(compressed.first == 0x78, "a zlib header, as java.util.zip writes")
        #expect(try Zlib.inflate(compressed, limit: max(1, size)) == original)
    }

    @Test("a bomb is refused once the output passes the limit, not after inflating it all")
    func bomb() {
        let compressed = Zlib.deflate([UInt8](repeating: 0, count: 8 << 20))
        #expect(compressed.count < 16 * 1024, "8 MiB of zeros deflate to a few KiB")
        #expect(throws: Zlib.InflateError.tooLarge(limit: 1 << 20)) { try Zlib.inflate(compressed, limit: 1 << 20) }
    }

    @Test("garbage and truncated streams are refused as malformed")
    func malformed() {
        #expect(throws: Zlib.InflateError.self) { try Zlib.inflate(Array("{\"not\":\"zlib\"}".utf8), limit: 1024) }
        let compressed = Zlib.deflate(Array(repeating: 7, count: 10_000))
        #expect(throws: Zlib.InflateError.self) { try Zlib.inflate(Array(compressed.prefix(compressed.count / 2)), limit: 1 << 20) }
    }
}
