internal import CJSONScan
import Foundation

/// One JSON value's bytes: validated, never decoded unless asked. What the worker keeps of the parts of a message it
/// does not interpret (unknown headers), so that a hostile 1 MiB array there costs one linear scan, not a tree of
/// 320,000 values.
public struct RawJSON: Sendable, Hashable {
    /// The value's text, exactly as received.
    public let bytes: Data

    public init(validating bytes: Data) throws(JSONScanner.SyntaxError) {
        try JSONScanner.validate(bytes)
        self.bytes = bytes
    }

    /// Bytes a validating reader already accepted as one JSON value.
    public init(validated bytes: Data) { self.bytes = bytes }

    /// `{}`.
    public static let emptyObject = RawJSON(validated: Data("{}".utf8))

    /// The value as a tree (the cost the raw form avoids; for the rare reader that needs it).
    public func decoded() throws -> JSONValue { try JSONValue(parsing: bytes) }
}

extension RawJSON: Encodable {
    /// Written through `JSONValue`: `JSONEncoder` cannot splice bytes in. Only a message that forwards what it
    /// received pays this.
    public func encode(to encoder: any Encoder) throws {
        try decoded().encode(to: encoder)
    }
}

/// Reads the structure of JSON text without building values: validation (RFC 8259, UTF-8, nesting at most
/// ``maxDepth``), an object's members as key + byte range, and nothing else. It accepts exactly what Foundation's
/// `JSONDecoder` accepts — RFC 8259 plus one trailing comma in an array or object — so a body the decoder took
/// always scans (checked differentially in the tests). Linear in the input, one small stack,
/// no recursion (a hostile nesting cannot exhaust a thread's stack). Offsets count from the first byte of the `Data`.
public enum JSONScanner {
    /// The deepest nesting accepted: Foundation's `JSONDecoder` limit, so both readers agree on what is JSON.
    public static let maxDepth = 512

    /// Where and why the text is not JSON.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Throws unless `bytes` is exactly one JSON value, with optional whitespace around it.
    public static func validate(_ bytes: Data) throws(SyntaxError) {
        try withBuffer(bytes) { (buffer) throws(SyntaxError) in try validate(buffer) }
    }

    /// ``validate(_:)-(Data)`` for bytes in memory.
    public static func validate(_ buffer: UnsafeRawBufferPointer) throws(SyntaxError) {
        var cursor = Cursor(buffer)
        cursor.skipWhitespace()
        try cursor.skipValue()
        cursor.skipWhitespace()
        guard cursor.atEnd else { throw cursor.error("unexpected text after the value") }
    }

    /// Validates `buffer` as a bus body — one object of exactly one member whose key has no escapes, `{"<class>":
    /// {…}}` — and returns that member's key (without its quotes) and value ranges, in one pass and without making
    /// the key a string. Nil for anything else, valid JSON or not: the caller's general reader (``validate(_:)-(Data)``,
    /// ``members(ofObjectIn:range:)``) tells which.
    public static func validatedOnlyMember(_ buffer: UnsafeRawBufferPointer) -> (key: Range<Int>, value: Range<Int>)? {
        var unused: [(key: Range<Int>, value: Range<Int>)] = []  // empty: no storage
        return validatedOnlyMember(buffer, recording: false, objectMembers: &unused)
    }

    /// ``validatedOnlyMember(_:)``, and when `recording` and the member's value is an object, its members (key
    /// without quotes, value; as the decoder's member table has them) appended to `objectMembers` in the same pass —
    /// the decoder then need not walk the message's object again. Nothing is appended when nil is returned.
    static func validatedOnlyMember(
        _ buffer: UnsafeRawBufferPointer, recording: Bool, objectMembers: inout [(key: Range<Int>, value: Range<Int>)]
    ) -> (key: Range<Int>, value: Range<Int>)? {
        let recorded = objectMembers.count
        guard let member = scanOnlyMember(buffer, recording: recording, objectMembers: &objectMembers) else {
            objectMembers.removeSubrange(recorded...)
            return nil
        }
        return member
    }

    private static func scanOnlyMember(
        _ buffer: UnsafeRawBufferPointer, recording: Bool, objectMembers: inout [(key: Range<Int>, value: Range<Int>)]
    ) -> (key: Range<Int>, value: Range<Int>)? {
        var cursor = Cursor(buffer)
        cursor.skipWhitespace()
        guard cursor.next() == UInt8(ascii: "{") else { return nil }
        cursor.skipWhitespace()
        let keyStart = cursor.position
        guard cursor.peek == UInt8(ascii: "\""), (try? cursor.skipString()) != nil else { return nil }
        let key = (keyStart + 1)..<(cursor.position - 1)
        guard !UnsafeRawBufferPointer(rebasing: buffer[key]).contains(UInt8(ascii: "\\")) else { return nil }
        cursor.skipWhitespace()
        guard cursor.next() == UInt8(ascii: ":") else { return nil }
        cursor.skipWhitespace()
        let valueStart = cursor.position
        // The body's own `{` is open around the member's value: it counts against the nesting limit, as it does for
        // `validate` and `JSONDecoder`.
        if recording, cursor.peek == UInt8(ascii: "{") {
            guard (try? cursor.skipObject(recordingMembersInto: &objectMembers)) != nil else { return nil }
        } else {
            guard (try? cursor.skipValue(alreadyOpen: 1)) != nil else { return nil }
        }
        let value = valueStart..<cursor.position
        cursor.skipWhitespace()
        guard cursor.next() == UInt8(ascii: "}") else { return nil }
        cursor.skipWhitespace()
        guard cursor.atEnd else { return nil }
        return (key, value)
    }

    /// The members of the object that `range` of `bytes` spans, in order: decoded key and the byte range of its
    /// value (validated). Nil when the value there is not an object.
    public static func members(ofObjectIn bytes: Data, range: Range<Int>? = nil) throws(SyntaxError)
        -> [(key: String, value: Range<Int>)]?
    {
        try withBuffer(bytes) { (buffer) throws(SyntaxError) in
            var cursor = Cursor(buffer)
            if let range { cursor.position = range.lowerBound; cursor.end = range.upperBound }
            cursor.skipWhitespace()
            guard cursor.peek == UInt8(ascii: "{") else { return nil }
            cursor.position += 1
            var members: [(key: String, value: Range<Int>)] = []
            cursor.skipWhitespace()
            if cursor.peek == UInt8(ascii: "}") { return members }
            while true {
                cursor.skipWhitespace()
                let keyStart = cursor.position
                try cursor.skipString()
                let key = try decodeKey(buffer, keyStart..<cursor.position)
                cursor.skipWhitespace()
                try cursor.expect(UInt8(ascii: ":"))
                cursor.skipWhitespace()
                let valueStart = cursor.position
                try cursor.skipValue()
                members.append((key, valueStart..<cursor.position))
                cursor.skipWhitespace()
                guard let next = cursor.next() else { throw cursor.error("unterminated object") }
                if next == UInt8(ascii: "}") { return members }
                guard next == UInt8(ascii: ",") else { throw cursor.error("expected ',' or '}' in an object", back: 1) }
                cursor.skipWhitespace()
                if cursor.peek == UInt8(ascii: "}") { return members }  // a trailing comma, as JSONDecoder allows
            }
        }
    }

    /// The first significant byte of the value at `range`: `{`, `[`, `"`, a digit or `-`, `t`, `f` or `n`.
    public static func kind(of bytes: Data, range: Range<Int>) -> UInt8? {
        withBuffer(bytes) { buffer in
            var cursor = Cursor(buffer)
            cursor.position = range.lowerBound
            cursor.end = range.upperBound
            cursor.skipWhitespace()
            return cursor.peek
        }
    }

    /// `bytes[range]` (offsets from its first byte) as its own `Data`.
    public static func slice(_ bytes: Data, _ range: Range<Int>) -> Data {
        bytes.subdata(in: (bytes.startIndex + range.lowerBound)..<(bytes.startIndex + range.upperBound))
    }

    private static func withBuffer<T, E: Error>(_ bytes: Data, _ body: (UnsafeRawBufferPointer) throws(E) -> T)
        throws(E) -> T
    {
        let result: Result<T, E> = bytes.withUnsafeBytes { buffer in
            do throws(E) { return .success(try body(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// A key without escapes is read as it is; one with escapes goes through Foundation (rare, and keys are small).
    private static func decodeKey(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) throws(SyntaxError) -> String {
        let inner = UnsafeRawBufferPointer(rebasing: buffer[(range.lowerBound + 1)..<(range.upperBound - 1)])
        if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
        do {
            return try JSONDecoder().decode(String.self, from: Data(UnsafeRawBufferPointer(rebasing: buffer[range])))
        } catch {
            throw SyntaxError(offset: range.lowerBound, reason: "undecodable object key")
        }
    }

    /// A position in the text and the rules of each token.
    struct Cursor {
        let buffer: UnsafeRawBufferPointer
        var position = 0
        var end: Int

        init(_ buffer: UnsafeRawBufferPointer) {
            self.buffer = buffer
            self.end = buffer.count
        }

        var atEnd: Bool { position >= end }
        var peek: UInt8? { position < end ? buffer[position] : nil }

        mutating func next() -> UInt8? {
            guard position < end else { return nil }
            defer { position += 1 }
            return buffer[position]
        }

        func error(_ reason: String, back: Int = 0) -> SyntaxError {
            SyntaxError(offset: max(0, position - back), reason: reason)
        }

        mutating func expect(_ byte: UInt8) throws(SyntaxError) {
            guard peek == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
            position += 1
        }

        mutating func skipWhitespace() {
            while position < end {
                switch buffer[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        /// One value, nested ones included, with an explicit stack of open containers (`{` or `[`).
        /// - Parameter alreadyOpen: containers open around this value, counted against ``JSONScanner/maxDepth``.
        mutating func skipValue(alreadyOpen: Int = 0) throws(SyntaxError) {
            var open = OpenContainers()
            while true {
                // A value starts here.
                skipWhitespace()
                guard let byte = peek else { throw error("expected a value") }
                var opened = false
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard open.count + alreadyOpen < JSONScanner.maxDepth else {
                        throw error("nesting deeper than \(JSONScanner.maxDepth)")
                    }
                    position += 1
                    skipWhitespace()
                    let closer = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    if peek == closer {
                        position += 1
                    } else {
                        open.push(object: byte == UInt8(ascii: "{"))
                        if byte == UInt8(ascii: "{") { try skipKeyAndColon() }
                        opened = true
                    }
                case UInt8(ascii: "\""): try skipString()
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
                case UInt8(ascii: "t"): try skipLiteral("true")
                case UInt8(ascii: "f"): try skipLiteral("false")
                case UInt8(ascii: "n"): try skipLiteral("null")
                default: throw error("unexpected character")
                }
                if opened { continue }
                // A value ended: close containers until one wants another member.
                while let isObject = open.lastIsObject {
                    skipWhitespace()
                    guard let separator = next() else { throw error("unterminated \(isObject ? "object" : "array")") }
                    let closer = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    if separator == UInt8(ascii: ",") {
                        skipWhitespace()
                        if peek == closer {
                            // A trailing comma, as JSONDecoder allows.
                            position += 1
                            open.pop()
                            continue
                        }
                        if isObject { try skipKeyAndColon() }
                        break
                    }
                    guard separator == closer else {
                        throw error("expected ',' or '\(Character(Unicode.Scalar(closer)))'", back: 1)
                    }
                    open.pop()
                }
                if open.isEmpty { return }
            }
        }

        /// Skips the object that starts here (at its `{`), one level below the top (the message object of
        /// ``JSONScanner/validatedOnlyMember(_:recording:objectMembers:)``), appending its members: the syntax
        /// ``skipValue(alreadyOpen:)`` accepts, a trailing comma included, and the same depth limit.
        mutating func skipObject(recordingMembersInto members: inout [(key: Range<Int>, value: Range<Int>)])
            throws(SyntaxError)
        {
            position += 1  // '{'
            skipWhitespace()
            if peek == UInt8(ascii: "}") {
                position += 1
                return
            }
            while true {
                guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let keyStart = position
                try skipString()
                let key = (keyStart + 1)..<(position - 1)
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                let valueStart = position
                // Open around this value: the body's object and this one.
                try skipValue(alreadyOpen: 2)
                members.append((key, valueStart..<position))
                skipWhitespace()
                guard let separator = next() else { throw error("unterminated object") }
                if separator == UInt8(ascii: ",") {
                    skipWhitespace()
                    if peek == UInt8(ascii: "}") {
                        // A trailing comma, as JSONDecoder allows.
                        position += 1
                        return
                    }
                    continue
                }
                guard separator == UInt8(ascii: "}") else { throw error("expected ',' or '}'", back: 1) }
                return
            }
        }

        private mutating func skipKeyAndColon() throws(SyntaxError) {
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            try skipString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
        }

        private mutating func skipLiteral(_ literal: StaticString) throws(SyntaxError) {
            let count = literal.utf8CodeUnitCount
            guard end - position >= count else { throw error("truncated literal") }
            let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: count)
            for index in 0..<count where buffer[position + index] != expected[index] {
                throw error("invalid literal")
            }
            position += count
        }

        mutating func skipNumber() throws(SyntaxError) {
            if peek == UInt8(ascii: "-") { position += 1 }
            guard let first = peek, isDigit(first) else { throw error("expected a digit") }
            position += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            if peek == UInt8(ascii: ".") {
                position += 1
                guard let digit = peek, isDigit(digit) else { throw error("expected a digit after '.'") }
                skipDigits()
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                position += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
                guard let digit = peek, isDigit(digit) else { throw error("expected a digit in the exponent") }
                skipDigits()
            }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        private mutating func skipDigits() {
            while let byte = peek, isDigit(byte) { position += 1 }
        }

        /// A string with its quotes: escapes checked, control characters refused, UTF-8 validated.
        mutating func skipString() throws(SyntaxError) {
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string") }
            position += 1
            while position < end {
                // Runs of plain ASCII sixteen bytes at a time, in C (CJSONScan), straight to the byte that ends one
                // (ids, names and payloads are mostly plain): eight at a time in Swift cost ~25 instructions a word.
                position += cbw_json_special_offset(
                    buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + position, end - position)
                guard position < end else { break }
                let byte = buffer[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    return
                case UInt8(ascii: "\\"):
                    position += 1
                    guard let escaped = next() else { throw error("unterminated escape") }
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            guard let hex = next(), hex.isHexDigit else { throw error("invalid \\u escape", back: 1) }
                        }
                    default: throw error("invalid escape", back: 1)
                    }
                case 0x00..<0x20: throw error("control character in a string")
                case 0x20..<0x80: position += 1
                default: try skipUTF8Sequence()
                }
            }
            throw error("unterminated string")
        }

        /// One multi-byte UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
        private mutating func skipUTF8Sequence() throws(SyntaxError) {
            let lead = buffer[position]
            let count: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: count = 1
            case 0xE0: count = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: count = 2
            case 0xED: count = 2; high = 0x9F
            case 0xF0: count = 3; low = 0x90
            case 0xF1...0xF3: count = 3
            case 0xF4: count = 3; high = 0x8F
            default: throw error("invalid UTF-8")
            }
            guard end - position > count else { throw error("truncated UTF-8") }
            for index in 1...count {
                let continuation = buffer[position + index]
                let (lower, upper) = index == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
                guard continuation >= lower && continuation <= upper else { throw error("invalid UTF-8") }
            }
            position += count + 1
        }
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}

/// The containers open around a cursor skipping a value, one bit each (1: object, 0: array), ``JSONScanner/maxDepth``
/// of them inline: skipping a nested value allocates nothing (an array as the stack cost an allocation per nested
/// member of every message).
struct OpenContainers {
    private var words = InlineArray<8, UInt64>(repeating: 0)
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Whether the innermost open container is an object; nil when none is open.
    var lastIsObject: Bool? {
        guard count > 0 else { return nil }
        let index = count - 1
        return (words[index >> 6] >> UInt64(index & 63)) & 1 == 1
    }

    /// Opens a container; the caller keeps `count` below ``JSONScanner/maxDepth`` (512 = 8 words of 64 bits).
    mutating func push(object: Bool) {
        precondition(count < 8 * 64, "deeper than the scanner's maximum depth")
        let bit: UInt64 = 1 << UInt64(count & 63)
        if object { words[count >> 6] |= bit } else { words[count >> 6] &= ~bit }
        count += 1
    }

    mutating func pop() { count -= 1 }
}
