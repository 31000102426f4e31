import Foundation
@testable import Primitives
import Testing

/// The scanner skips plain ASCII in strings eight bytes at a time; the word test must flag exactly the bytes that
/// end a plain run, in every position.
@Suite("JSON scanner: plain runs")
struct JSONScannerPlainRunTests {
    @Test("every byte value in every position of a word: the first byte that ends a plain run is the lowest flag")
    func everyByteInEveryPosition() {
        var wrong: [String] = []
        for value in 0...255 {
            let special = value < 0x20 || value == 0x22 || value == 0x5C || value >= 0x80
            let escaped = value < 0x20 || value == 0x22 || value == 0x5C
            for position in 0..<8 {
                // Behind it, bytes that are special themselves (a borrow chain's false flags sit above the first
                // true one; none may sit below it) or plain neighbours of the borrow chains.
                for tail: UInt8 in [UInt8(ascii: "a"), 0x00, 0x22, 0x5C, 0xFF] {
                    var bytes = [UInt8](repeating: tail, count: 8)
                    for before in 0..<position { bytes[before] = before == position - 1 ? 0x21 : UInt8(ascii: "a") }
                    bytes[position] = UInt8(value)
                    let word = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                    let firstSpecial = bytes.firstIndex { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 >= 0x80 } ?? 8
                    let firstEscaped = bytes.firstIndex { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C } ?? 8
                    let flags = JSONScanner.Cursor.specialBytes(word), escapeFlags = JSONScanner.bytesToEscape(word)
                    if flags.trailingZeroBitCount / 8 != firstSpecial
                        || escapeFlags.trailingZeroBitCount / 8 != firstEscaped
                    {
                        wrong.append("byte \(value) at \(position) before \(tail)")
                    }
                    // With a plain tail, exactly the byte itself is flagged.
                    if tail == UInt8(ascii: "a"), (flags != 0) != special || (escapeFlags != 0) != escaped {
                        wrong.append("byte \(value) at \(position) alone")
                    }
                }
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
    }

    @Test("strings with a special byte at every offset scan as Foundation reads them")
    func specialByteAtEveryOffset() throws {
        var refused: [String] = []
        for length in 0..<20 {
            for offset in 0..<max(1, length) {
                for special in ["\\\"", "\\\\", "é", "\\n", "\\u00e9"] {
                    var text = String(repeating: "x", count: length)
                    if length > 0 {
                        let index = text.index(text.startIndex, offsetBy: offset)
                        text.replaceSubrange(index...index, with: special)
                    }
                    // Valid JSON by construction (the escapes are JSON's own): Foundation and the scanner take every one.
                    let json = "[\"" + text + "\",1]"
                    if (try? JSONScanner.validate(Data(json.utf8))) == nil { refused.append(json) }
                    if (try? JSONDecoder().decode([JSONValue].self, from: Data(json.utf8))) == nil {
                        refused.append("Foundation: " + json)
                    }
                }
            }
        }
        #expect(refused.isEmpty, "\(refused)")
        #expect(throws: JSONScanner.SyntaxError.self) { try JSONScanner.validate(Data("\"0123456789\u{1}abcdef\"".utf8)) }
        #expect(throws: JSONScanner.SyntaxError.self) { try JSONScanner.validate(Data("\"0123456789abcdef".utf8)) }
    }
}
