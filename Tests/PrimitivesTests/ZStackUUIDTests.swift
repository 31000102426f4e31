import Foundation
import Primitives
import Testing

@Suite("ZStackUUID")
struct ZStackUUIDTests {
    @Test func acceptsThirtyTwoLowercaseHexDigits() {
        #expect(ZStackUUID.isWellFormed("9b1d387e11bd3ab0a673c655eb4c8f66"))
        #expect(ZStackUUID.problem("9b1d387e11bd3ab0a673c655eb4c8f66") == nil)
    }

    @Test(arguments: [
        "9B1D387E11BD3AB0A673C655EB4C8F66",  // upper case: ZStack never writes it
        "9b1d387e-11bd-3ab0-a673-c655eb4c8f66",  // dashes
        "9b1d387e11bd3ab0a673c655eb4c8f6g",  // not hex
        "9b1d387e11bd3ab0a673c655eb4c8f6",  // 31 digits
        "9b1d387e11bd3ab0a673c655eb4c8f66a",  // 33 digits
        "",
        "9b1d387e11bd3ab0a673c655eb4c8f6é",  // 32 characters, 33 bytes
    ])
    func refusesEveryOtherShape(value: String) {
        #expect(!ZStackUUID.isWellFormed(value))
        #expect(ZStackUUID.problem(value) != nil)
    }

    @Test("the bits: what the digits spell, the first the most significant, read as Foundation reads hex")
    func bitsAreTheDigitsValue() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let high = generator.next() as UInt64, low = generator.next() as UInt64
            let text = String(format: "%016llx%016llx", high, low)
            let bits = try #require(ZStackUUID.bits(text))
            #expect(bits.high == high && bits.low == low, "\(text)")
            #expect(UInt64(text.prefix(16), radix: 16) == high)
        }
        #expect(ZStackUUID.bits(String(repeating: "f", count: 32)).map { [$0.high, $0.low] } == [.max, .max])
    }

    @Test("every byte value at every position: accepted exactly when it is 0-9 or a-f")
    func everyByteAtEveryPosition() {
        var wrong: [String] = []
        let digits = Set("0123456789abcdef".utf8)
        for position in 0..<32 {
            for value in UInt8(1)...UInt8(127) {  // one byte of UTF-8 each, so the length stays 32
                var bytes = Array("0123456789abcdef0123456789abcdef".utf8)
                bytes[position] = value
                let text = String(decoding: bytes, as: UTF8.self)
                if ZStackUUID.isWellFormed(text) != digits.contains(value) { wrong.append("\(value) at \(position)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
    }

    @Test func problemNamesTheLengthWhenThatIsWhatIsWrong() {
        #expect(ZStackUUID.problem("abc") == "must be 32 lowercase hex digits without dashes, got 3 characters")
        #expect(ZStackUUID.problem(String(repeating: "z", count: 32)) == "must be 32 lowercase hex digits without dashes")
    }
}
