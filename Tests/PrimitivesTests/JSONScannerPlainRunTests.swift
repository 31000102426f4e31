import Foundation
import CJSONScan
@testable import Primitives
import Testing

/// The scanner skips plain ASCII in strings, and the encoder copies it, sixteen bytes at a time (CJSONScan's searches:
/// whole blocks, an overlapping last block, two overlapping halves under sixteen bytes, a byte loop under four). Each
/// must find exactly the first byte that ends a plain run, at every position of every length those paths take.
@Suite("JSON scanner: plain runs")
struct JSONScannerPlainRunTests {
    static func isSpecial(_ byte: UInt8) -> Bool { isEscaped(byte) || byte >= 0x80 }
    static func isEscaped(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C }

    @Test("every byte value at every position of 1…40 bytes: the first special byte is the one found")
    func everyByteInEveryPosition() {
        var wrong: [String] = []
        for length in 1...40 {
            for position in 0..<length {
                for value in 0...255 {
                    // Behind it, plain bytes or special ones (the first must still win); before it, plain bytes.
                    for tail: UInt8 in [UInt8(ascii: "a"), 0x00, 0x22, 0x5C, 0xFF] {
                        var bytes = [UInt8](repeating: tail, count: length)
                        for before in 0..<position { bytes[before] = before == position - 1 ? 0x21 : 0x7E }
                        bytes[position] = UInt8(value)
                        let (special, escape) = bytes.withUnsafeBufferPointer {
                            (cbw_json_special_offset($0.baseAddress, length), cbw_json_escape_offset($0.baseAddress, length))
                        }
                        let firstSpecial = bytes.firstIndex(where: Self.isSpecial) ?? length
                        let firstEscaped = bytes.firstIndex(where: Self.isEscaped) ?? length
                        if special != firstSpecial || escape != firstEscaped {
                            wrong.append("length \(length): byte \(value) at \(position) before \(tail)")
                        }
                    }
                }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(20))")
    }

    @Test("plain runs of every length 0…70, in every byte value that is plain: nothing found")
    func plainRuns() {
        let plain = (0...255).map(UInt8.init).filter { !Self.isSpecial($0) }
        for length in 0...70 {
            let bytes = (0..<length).map { plain[($0 * 7 + length) % plain.count] }
            let found = bytes.withUnsafeBufferPointer {
                (cbw_json_special_offset($0.baseAddress, length), cbw_json_escape_offset($0.baseAddress, length))
            }
            #expect(found == (length, length), "length \(length)")
        }
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
