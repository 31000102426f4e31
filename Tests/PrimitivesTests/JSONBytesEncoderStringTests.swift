import Foundation
@testable import Primitives
import Testing

/// The encoder's string writer searches sixteen bytes at a time (CJSONScan: whole blocks, overlapping last block,
/// overlapping halves for short strings). Every length across those paths' boundaries, every character that needs an
/// escape at every position, must give `JSONEncoder`'s very bytes.
@Suite("JSONBytesEncoder: strings, the kept buffer")
struct JSONBytesEncoderStringTests {
    static func reference(_ value: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return Array(try encoder.encode([value]))
    }

    static func onePass(_ value: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try JSONBytesEncoder.encode([value], into: &bytes)
        return bytes
    }

    /// Characters the writer escapes, with neighbours of the flag arithmetic's thresholds (space, `!`, `#`, `[`, `]`,
    /// DEL, non-ASCII) that it must not.
    static let specials: [Character] = ["\"", "\\", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{00}", "\u{01}", "\u{1F}",
                                        " ", "!", "#", "[", "]", "\u{7F}", "é", "\u{1F600}"]

    @Test("every length 0…40 of plain text: JSONEncoder's bytes")
    func plainLengths() throws {
        for length in 0...40 {
            let value = String(repeating: "a", count: length)
            #expect(try Self.onePass(value) == Self.reference(value), "length \(length)")
        }
    }

    @Test("one special character at every position of strings of 1…24 bytes", arguments: specials)
    func specialAtEveryPosition(_ special: Character) throws {
        for length in 1...24 {
            for position in 0..<length {
                var characters = Array(repeating: Character("x"), count: length)
                characters[position] = special
                let value = String(characters)
                #expect(try Self.onePass(value) == Self.reference(value), "length \(length), at \(position)")
            }
        }
    }

    @Test("two specials in one word, and runs of them, at the string's end")
    func specialsTogether() throws {
        for length in 2...20 {
            for position in 0..<(length - 1) {
                var characters = Array(repeating: Character("y"), count: length)
                characters[position] = "\""
                characters[length - 1] = "\u{01}"
                let value = String(characters)
                #expect(try Self.onePass(value) == Self.reference(value), "length \(length), at \(position)")
            }
            let run = String(repeating: "\\", count: length)
            #expect(try Self.onePass(run) == Self.reference(run), "a run of \(length) backslashes")
        }
    }

    // On Linux an `NSString` converts to a native string, so this checks Foundation's strings, not the writer's
    // non-contiguous fallback (which only a lazily bridged Darwin string reaches).
    @Test("a string made by Foundation (NSString) reads the same")
    func foundationString() throws {
        let value = NSString(string: "bridged \"value\" with\ttab and é") as String
        #expect(try Self.onePass(value) == Self.reference(value))
    }

    @Test("a value larger than the kept capacity is written whole, and the next encode starts clean")
    func hugeThenSmall() throws {
        let huge = String(repeating: "0123456789abcdef", count: EncodingState.keptCapacity / 8)
        #expect(try Self.onePass(huge) == Self.reference(huge))
        #expect(try Self.onePass("small") == Self.reference("small"))
        var appended = Array("prefix:".utf8)
        try JSONBytesEncoder.encode(["k": "v"], into: &appended)
        #expect(appended == Array(#"prefix:{"k":"v"}"#.utf8))
    }
}
