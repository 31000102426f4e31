import Foundation
@testable import Primitives
import Testing

/// The scanner skips plain ASCII in strings eight bytes at a time; the word test must flag exactly the bytes that
/// end a plain run, in every position.
@Suite("JSON scanner: plain runs")
struct JSONScannerPlainRunTests {
    @Test("every byte value in every position of a word: flagged exactly when it ends a plain run")
    func everyByteInEveryPosition() {
        var wrong: [String] = []
        for value in 0...255 {
            let special = value < 0x20 || value == 0x22 || value == 0x5C || value >= 0x80
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = UInt8(value)
                // Neighbours that sit next to the borrow chains of the bit tricks.
                if position > 0 { bytes[position - 1] = 0x21 }
                let word = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                if JSONScanner.Cursor.hasSpecialByte(word) != special { wrong.append("byte \(value) at \(position)") }
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
