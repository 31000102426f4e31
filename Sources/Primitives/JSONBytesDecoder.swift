import Foundation
import Synchronization

/// Decodes `Decodable` values straight from JSON bytes: no `JSONDecoder`, no intermediate tree, one small member
/// table per object. The hot path of every delivery (issue 15): Foundation's decoder spends most of its time in
/// keyed-container machinery and allocation, not in the text.
///
/// **It decodes a subset of what `JSONDecoder` decodes, and vouches for exactly that subset.** Whenever it meets
/// something whose meaning under `JSONDecoder` it does not reproduce bit for bit — a number written with a fraction
/// or exponent where an integer is asked for, duplicate or escaped object keys, a lone surrogate, `Data`/`Date`/
/// `URL`/`Decimal`/`Float`, `superDecoder` — it gives up with ``Unsupported`` (even if the caller swallowed an
/// error thrown on the way with `try?`), and the caller decodes the same bytes with `JSONDecoder`. So a body either
/// decodes here to what `JSONDecoder` would give, or goes the old way: differential tests hold the two together.
/// Errors that `JSONDecoder` would also throw (a string where a number is expected, a missing key) are thrown as
/// `DecodingError`, so `try?` chains (`JSONValue`, header flags) take the same branch as under `JSONDecoder`.
public enum JSONBytesDecoder {
    /// The bytes hold something this decoder does not vouch for; decode them with `JSONDecoder`.
    public struct Unsupported: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { "not decoded by JSONBytesDecoder: \(reason)" }
    }

    /// Decodes the JSON value in `range` of `buffer` (the whole buffer when nil) as `T`.
    ///
    /// - Precondition: the bytes in `range` are one valid JSON value (``JSONScanner/validate(_:)`` accepted them):
    ///   the decoder walks them without checking their syntax again.
    /// - Throws: ``Unsupported`` when `JSONDecoder` must decide; otherwise the `DecodingError` it would throw, or
    ///   whatever `T`'s initialiser throws.
    public static func decode<T: Decodable>(_ type: T.Type, validated buffer: UnsafeRawBufferPointer,
                                            range: Range<Int>? = nil) throws -> T {
        // Positions are kept as 32-bit offsets (a decoder then fits an existential's inline buffer): bodies that large
        // never reach here (the consumer's body limit), but the bound is checked, not assumed.
        guard buffer.count < Int(Int32.max) else { throw Unsupported(reason: "a body of 2 GiB or more") }
        let state = DecodingState.take(buffer)
        defer { DecodingState.recycle(state) }
        return try decode(T.self, state: state, range: range ?? 0..<buffer.count)
    }

    fileprivate static func decode<T: Decodable>(_ type: T.Type, state: DecodingState, range: Range<Int>) throws -> T {
        let value: T
        do {
            value = try state.decodeValue(T.self, at: state.trimmed(range), path: DecodingState.rootPath, key: nil)
        } catch {
            if let reason = state.unsupported { throw Unsupported(reason: reason) }
            throw error
        }
        if let reason = state.unsupported { throw Unsupported(reason: reason) }
        return value
    }

    /// A bus body, `{"<class>": {…}}`, validated in one pass that also reads the inner object's members, so the
    /// decode of that object does not walk it again (the validation and the member table were two passes over the
    /// message's fields, a 200-byte payload three times). Calls `body` with the key's bytes (no escapes, as
    /// ``JSONScanner/validatedOnlyMember(_:)`` requires) and the object; nil without calling it when the bytes are not
    /// of that shape, not valid JSON, or the object's keys are escaped or repeated (``Unsupported`` cases: the caller's
    /// general path decides); otherwise what `body` returns.
    public static func withOnlyMemberObject<R>(
        _ buffer: UnsafeRawBufferPointer, _ body: (_ key: UnsafeRawBufferPointer, _ object: MemberObject) throws -> R?
    ) rethrows -> R? {
        guard buffer.count < Int(Int32.max) else { return nil }
        let state = DecodingState.take(buffer)
        defer { DecodingState.recycle(state) }
        guard let member = state.scanOnlyMemberObject() else { return nil }
        return try body(UnsafeRawBufferPointer(rebasing: buffer[member.key]), MemberObject(state: state, range: member.value))
    }

    /// The object of ``withOnlyMemberObject(_:_:)``, valid only inside its `body`.
    public struct MemberObject {
        fileprivate let state: DecodingState
        fileprivate let range: Range<Int>

        /// The object's byte range in the body.
        public var byteRange: Range<Int> { range }

        /// Decodes the object as `T`: what ``decode(_:validated:range:)`` gives for its range, but from the member
        /// table read in the validating pass.
        public func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONBytesDecoder.decode(T.self, state: state, range: range)
        }
    }

    /// Decodes `data` as `T` in one pass when this decoder vouches for it, and with `JSONDecoder` otherwise — for
    /// bodies that are not bus envelopes (agent answers). Values are `JSONDecoder`'s by construction, and so are
    /// errors: any failure here, syntax included, decodes the bytes again with `JSONDecoder` and throws what it throws.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoded: T? = data.withUnsafeBytes { buffer in
            guard (try? JSONScanner.validate(buffer)) != nil else { return nil }
            return try? decode(T.self, validated: buffer)
        }
        if let decoded { return decoded }
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// What one `decode` call shares across its nested decoders: the bytes, and whether it gave up.
///
/// `@unchecked Sendable` only so that the spare state can wait in a `Mutex` between decodes: a state belongs to one
/// decode on one thread from ``take(_:)`` to ``recycle(_:)``, and nothing of that decode holds it afterwards.
final class DecodingState: @unchecked Sendable {
    typealias Member = (key: Range<Int>, value: Range<Int>)

    // Unchecked exclusivity (as `EncodingState`'s): the state belongs to one decode on one thread, and every read of
    // a member table or the bytes would otherwise pay a dynamic access check — ~1 % of the worker's CPU per echo.
    @exclusivity(unchecked) private(set) var buffer: UnsafeRawBufferPointer
    /// Set by the first construct this decoder does not vouch for; the result is then discarded.
    @exclusivity(unchecked) var unsupported: String?
    /// The member tables of every object read in this decode, back to back, appended only: a container keeps the
    /// bounds of its own. One buffer per decode instead of one per object.
    @exclusivity(unchecked) private(set) var memberStore: [Member] = []
    /// Coding paths of the nested decoders and containers of this decode, as a tree: each entry is a key under its
    /// parent entry (``rootPath``: the empty path). A decoder then carries an index instead of a path array and a
    /// key — small enough for an `any Decoder`'s inline buffer, so handing it to `init(from:)` allocates no box — and
    /// a path is spelled out only when an error or a type asks for it.
    @exclusivity(unchecked) private var pathEntries: [(parent: PathRef, key: any CodingKey)] = []

    /// An index into the path tree.
    typealias PathRef = Int32
    static let rootPath: PathRef = -1

    /// The last string longer than 15 bytes this decode made: a request's `correlationId` repeats its `id`, and
    /// handing out the same string again saves a heap string per message.
    @exclusivity(unchecked) private var lastLongString: String?

    /// The last object whose members were read (its first byte, its run in ``memberStore``): read again, it costs
    /// nothing (a message's own fields and its base fields share one object).
    @exclusivity(unchecked) private var lastObject: (start: Int, members: Range<Int>)?

    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        memberStore.reserveCapacity(32)
        pathEntries.reserveCapacity(8)
    }

    /// One state kept between decodes, with its tables' storage: a decode then allocates neither the state nor its
    /// two tables. Taken for the length of one decode, so concurrent and nested decodes each get their own (the
    /// second makes a new one).
    private static let spare = Mutex<DecodingState?>(nil)

    /// Tables grown past these by a large body are not kept.
    private static let keptMembers = 1024
    private static let keptPathEntries = 256

    static func take(_ buffer: UnsafeRawBufferPointer) -> DecodingState {
        guard let state = spare.withLock({ $0.take() }) else { return DecodingState(buffer) }
        state.buffer = buffer
        return state
    }

    /// Empties `state` (no bytes, strings or keys of the finished decode stay reachable) and keeps it for the next.
    static func recycle(_ state: DecodingState) {
        guard state.memberStore.capacity <= keptMembers, state.pathEntries.capacity <= keptPathEntries else { return }
        state.buffer = UnsafeRawBufferPointer(start: nil, count: 0)
        state.unsupported = nil
        state.lastLongString = nil
        state.lastObject = nil
        state.memberStore.removeAll(keepingCapacity: true)
        state.pathEntries.removeAll(keepingCapacity: true)
        spare.withLock { $0 = state }
    }

    /// The path `key` under `parent` (the same path when `key` is nil).
    func childPath(_ parent: PathRef, _ key: (any CodingKey)?) -> PathRef {
        guard let key else { return parent }
        pathEntries.append((parent, key))
        return PathRef(pathEntries.count - 1)
    }

    /// The coding path of `ref`, with `key` appended when given.
    func codingPath(_ ref: PathRef, _ key: (any CodingKey)? = nil) -> [any CodingKey] {
        var path: [any CodingKey] = []
        if let key { path.append(key) }
        var current = ref
        while current != Self.rootPath {
            let entry = pathEntries[Int(current)]
            path.append(entry.key)
            current = entry.parent
        }
        path.reverse()
        return path
    }

    func giveUp(_ reason: String) -> JSONBytesDecoder.Unsupported {
        if unsupported == nil { unsupported = reason }
        return JSONBytesDecoder.Unsupported(reason: reason)
    }

    /// `range` without the whitespace around its value.
    func trimmed(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper, Self.isWhitespace(buffer[lower]) { lower += 1 }
        while upper > lower, Self.isWhitespace(buffer[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    func firstByte(_ range: Range<Int>) -> UInt8 { range.isEmpty ? 0 : buffer[range.lowerBound] }

    func isNull(_ range: Range<Int>) -> Bool { firstByte(range) == UInt8(ascii: "n") }

    /// The members of the object at `range`: key (without quotes) and value ranges, in order, as the bounds of
    /// their run in ``memberStore``. Keys with escapes and repeated keys are not vouched for (`JSONDecoder`'s choice
    /// among duplicates is its own).
    func members(ofObjectAt range: Range<Int>) throws -> Range<Int> {
        // A message's object is read twice: its own fields' container, then the base fields' direct reader.
        if let last = lastObject, last.start == range.lowerBound { return last.members }
        let members = try scanMembers(ofObjectAt: range)
        lastObject = (range.lowerBound, members)
        return members
    }

    private func scanMembers(ofObjectAt range: Range<Int>) throws -> Range<Int> {
        var cursor = JSONScanner.Cursor(buffer)
        cursor.position = range.lowerBound + 1
        cursor.end = range.upperBound
        let start = memberStore.count
        var seen = Set<UInt64>()  // key hashes, once the object has more than a handful of members
        var signatures: UInt64 = 0  // see `checkKey`
        while true {
            cursor.skipWhitespace()
            guard let byte = cursor.peek else { return start..<memberStore.count }
            if byte == UInt8(ascii: "}") { return start..<memberStore.count }
            if byte == UInt8(ascii: ",") {
                cursor.position += 1
                continue
            }
            let keyStart = cursor.position
            try cursor.skipString()
            let key = (keyStart + 1)..<(cursor.position - 1)
            try checkKey(key, among: start..<memberStore.count, seen: &seen, signatures: &signatures)
            cursor.skipWhitespace()
            cursor.position += 1  // ':'
            cursor.skipWhitespace()
            let valueStart = cursor.position
            try cursor.skipValue()
            memberStore.append((key, valueStart..<cursor.position))
        }
    }

    /// Gives up on a key with escapes or one that repeats an earlier key of its object (`members`): compared with
    /// the earlier keys while the object is small (bus objects have a dozen members); past that, by hash first, so
    /// a hostile object of 20,000 members costs one pass, not 200 million comparisons.
    ///
    /// In a small object a key is compared only when an earlier key has its signature — one bit of 64 picked by its
    /// length and first and last bytes, collected in `signatures` as the object's keys go by: a repeat has the same
    /// signature, and distinct keys rarely share one, so most keys are compared with none (each was compared with
    /// every earlier key: ~150 instructions a key, ten keys per message).
    private func checkKey(_ key: Range<Int>, among members: Range<Int>, seen: inout Set<UInt64>,
                          signatures: inout UInt64) throws {
        if !key.isEmpty, memchr(buffer.baseAddress! + key.lowerBound, Int32(UInt8(ascii: "\\")), key.count) != nil {
            throw giveUp("an escaped object key")
        }
        if members.count < 16 {
            let first = key.isEmpty ? 0 : Int(buffer[key.lowerBound])
            let last = key.isEmpty ? 0 : Int(buffer[key.upperBound - 1])
            let signature: UInt64 = 1 << UInt64((key.count &* 31 &+ first &* 7 &+ last) & 63)
            defer { signatures |= signature }
            guard signatures & signature != 0 else { return }
            for index in members where bytesEqual(memberStore[index].key, key) {
                throw giveUp("a repeated object key")
            }
        } else {
            if seen.isEmpty { for index in members { seen.insert(keyHash(memberStore[index].key)) } }
            if !seen.insert(keyHash(key)).inserted {
                for index in members where bytesEqual(memberStore[index].key, key) {
                    throw giveUp("a repeated object key")
                }
            }
        }
    }

    /// Validates the bytes as `{"<key>": {…}}` and reads the inner object's members in the same pass
    /// (``JSONScanner/validatedOnlyMember(_:recording:objectMembers:)``), kept as the object read last: the decode
    /// of that object then starts from its table. Nil when the bytes are not of that shape or the object's keys are
    /// not vouched for (escaped or repeated).
    func scanOnlyMemberObject() -> (key: Range<Int>, value: Range<Int>)? {
        let start = memberStore.count
        guard let member = JSONScanner.validatedOnlyMember(buffer, recording: true, objectMembers: &memberStore),
              buffer[member.value.lowerBound] == UInt8(ascii: "{")
        else { return nil }
        var seen = Set<UInt64>()
        var signatures: UInt64 = 0
        for index in start..<memberStore.count {
            guard (try? checkKey(memberStore[index].key, among: start..<index, seen: &seen, signatures: &signatures))
                != nil
            else { return nil }
        }
        lastObject = (member.value.lowerBound, start..<memberStore.count)
        return member
    }

    /// The elements of the array at `range`.
    func elements(ofArrayAt range: Range<Int>) throws -> [Range<Int>] {
        var cursor = JSONScanner.Cursor(buffer)
        cursor.position = range.lowerBound + 1
        cursor.end = range.upperBound
        var elements: [Range<Int>] = []
        while true {
            cursor.skipWhitespace()
            guard let byte = cursor.peek else { return elements }
            if byte == UInt8(ascii: "]") { return elements }
            if byte == UInt8(ascii: ",") {
                cursor.position += 1
                continue
            }
            let start = cursor.position
            try cursor.skipValue()
            elements.append(start..<cursor.position)
        }
    }

    /// FNV-1a of the key's bytes: a cheap first test for repeats in large objects (equal keys, equal hashes).
    func keyHash(_ range: Range<Int>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for index in range {
            hash = (hash ^ UInt64(buffer[index])) &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    func bytesEqual(_ lhs: Range<Int>, _ rhs: Range<Int>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var left = lhs.lowerBound, right = rhs.lowerBound
        while left < lhs.upperBound {
            if buffer[left] != buffer[right] { return false }
            left += 1
            right += 1
        }
        return true
    }

    /// Whether the key bytes at `range` spell `name`.
    func key(_ range: Range<Int>, equals name: String) -> Bool {
        // Most keys a reader asks about differ in length from the member's: no string storage touched for those.
        guard name.utf8.count == range.count else { return false }
        guard !range.isEmpty else { return true }
        let key = UnsafeRawBufferPointer(rebasing: buffer[range])
        // memcmp, not `elementsEqual`: the generic byte loop was ~1,000 instructions per message (callgrind).
        return name.utf8.withContiguousStorageIfAvailable { memcmp(key.baseAddress!, $0.baseAddress!, $0.count) == 0 }
            ?? key.elementsEqual(name.utf8)
    }

    func string(keyAt range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)
    }

    /// `T` at `range`, the value of `key` in a container at `path` (nil: the container's own value): scalars
    /// straight from the bytes (no decoder, no coding path unless an error needs it), the types `JSONDecoder` treats
    /// its own way given up on, everything else through its `init(from:)` with a decoder that builds its coding path
    /// only when asked (an array per nested value was a fifth of a message's allocations).
    func decodeValue<T: Decodable>(_ type: T.Type, at range: Range<Int>, path: PathRef,
                                   key: (any CodingKey)?) throws -> T {
        // Closures written at each call, not one kept in a local: a non-escaping argument's context stays on the stack.
        if T.self == String.self { return try string(at: range) { codingPath(path, key) } as! T }
        if T.self == Int64.self { return try integer(Int64.self, at: range) { codingPath(path, key) } as! T }
        if T.self == Int.self { return try integer(Int.self, at: range) { codingPath(path, key) } as! T }
        if T.self == Bool.self { return try bool(at: range) { codingPath(path, key) } as! T }
        if T.self == Int32.self { return try integer(Int32.self, at: range) { codingPath(path, key) } as! T }
        if T.self == Double.self { return try double(at: range) { codingPath(path, key) } as! T }
        if T.self == [String: String].self { return try stringMap(at: range, path: path, key: key) as! T }
        if T.self == Data.self || T.self == Date.self || T.self == URL.self || T.self == Decimal.self
            || T.self == Float.self
        {
            throw giveUp("\(T.self), which JSONDecoder decodes its own way")
        }
        return try T(from: ValueDecoder(state: self, range: range, path: childPath(path, key)))
    }

    /// A `[String: String]` (every message's `headers.schema`) as `Dictionary`'s `init(from:)` reads it — a keyed
    /// container, every member's value decoded as a `String` — without the container's box.
    private func stringMap(at range: Range<Int>, path: PathRef, key: (any CodingKey)?) throws -> [String: String] {
        guard firstByte(range) == UInt8(ascii: "{") else {
            throw mismatch([String: Any].self, range) { codingPath(path, key) }
        }
        let members = try members(ofObjectAt: range)
        guard !members.isEmpty else { return [:] }
        let mapPath = childPath(path, key)
        var map = [String: String](minimumCapacity: members.count)
        for index in members {
            let member = memberStore[index]
            let name = string(keyAt: member.key)
            map[name] = try string(at: member.value) { codingPath(mapPath, MemberKey(name)) }
        }
        return map
    }

    // MARK: Scalars

    func string(at range: Range<Int>, path: () -> [any CodingKey]) throws -> String {
        switch try stringContent(at: range, path: path) {
        case .unescaped(let string): return string
        case .plain(let raw):
            // Validated UTF-8 (the scanner checked it), so decoding repairs nothing.
            guard raw.count > 15 else { return String(decoding: raw, as: UTF8.self) }
            if let last = lastLongString, StringInterner.spells(last, raw) { return last }
            let made = String(decoding: raw, as: UTF8.self)
            lastLongString = made
            return made
        }
    }

    /// ``string(at:path:)`` for a value that recurs across messages (a service id, a reply inbox): taken from
    /// ``StringInterner/shared`` when it has no escapes.
    func recurringString(at range: Range<Int>, path: () -> [any CodingKey]) throws -> String {
        switch try stringContent(at: range, path: path) {
        case .unescaped(let string): return string
        case .plain(let raw): return StringInterner.shared.string(raw)
        }
    }

    /// A string value's bytes between its quotes when it has no escapes (the common case), else the string.
    private enum StringContent {
        case plain(UnsafeRawBufferPointer)
        case unescaped(String)
    }

    private func stringContent(at range: Range<Int>, path: () -> [any CodingKey]) throws -> StringContent {
        guard firstByte(range) == UInt8(ascii: "\"") else { throw mismatch(String.self, range, path) }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        let raw = UnsafeRawBufferPointer(rebasing: buffer[inner])
        guard let start = raw.baseAddress, memchr(start, Int32(UInt8(ascii: "\\")), raw.count) != nil else {
            return .plain(raw)
        }
        return .unescaped(try unescaped(inner))
    }

    private func unescaped(_ inner: Range<Int>) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(inner.count)
        var index = inner.lowerBound
        while index < inner.upperBound {
            let byte = buffer[index]
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                index += 1
                continue
            }
            let code = buffer[index + 1]
            index += 2
            switch code {
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(at: index)
                index += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one; anything else is JSONDecoder's call.
                    guard index + 6 <= inner.upperBound, buffer[index] == UInt8(ascii: "\\"),
                        buffer[index + 1] == UInt8(ascii: "u")
                    else { throw giveUp("a lone surrogate escape") }
                    let low = hex4(at: index + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw giveUp("a lone surrogate escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw giveUp("a lone surrogate escape")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw giveUp("an invalid \\u escape") }
                bytes.append(contentsOf: UTF8.encode(unicode)!)
            default: bytes.append(code)  // \" \\ \/
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func hex4(at index: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = buffer[index + offset]
            let digit: UInt8 = switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            default: byte - UInt8(ascii: "A") + 10
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    func bool(at range: Range<Int>, path: () -> [any CodingKey]) throws -> Bool {
        switch firstByte(range) {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw mismatch(Bool.self, range, path)
        }
    }

    /// A plain decimal integer (`-?digits`) in `T`'s range. A fraction or exponent is refused as `JSONDecoder`
    /// refuses it when the number is not whole (`2.5`); a whole one (`1.0`, `1e2`, which it accepts) is its call.
    func integer<T: FixedWidthInteger>(_ type: T.Type, at range: Range<Int>, path: () -> [any CodingKey]) throws -> T {
        let first = firstByte(range)
        guard first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else {
            throw mismatch(T.self, range, path)
        }
        var index = range.lowerBound
        let negative = first == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < range.upperBound else { throw giveUp("a malformed number") }
        if negative && range.count == 2 && buffer[index] == UInt8(ascii: "0") { throw giveUp("negative zero") }
        var value: T = 0
        while index < range.upperBound {
            let byte = buffer[index]
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                if let double = Double(string(keyAt: range)), double.isFinite, double.rounded() != double {
                    throw DecodingError.dataCorrupted(.init(codingPath: path(),
                                                            debugDescription: "The given data was not valid JSON."))
                }
                throw giveUp("a number with a fraction or exponent where an integer is expected")
            }
            let digit = T(byte - UInt8(ascii: "0"))
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? times.subtractingReportingOverflow(digit)
                                             : times.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { throw giveUp("an integer out of range") }
            value = next
            index += 1
        }
        return value
    }

    func double(at range: Range<Int>, path: () -> [any CodingKey]) throws -> Double {
        let first = firstByte(range)
        guard first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else {
            throw mismatch(Double.self, range, path)
        }
        guard let value = Double(string(keyAt: range)), value.isFinite else {
            throw giveUp("a number a Double cannot hold")
        }
        return value
    }

    func mismatch(_ type: Any.Type, _ range: Range<Int>, _ path: () -> [any CodingKey]) -> DecodingError {
        let found = switch firstByte(range) {
        case UInt8(ascii: "{"): "an object"
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        default: "a number"
        }
        return DecodingError.typeMismatch(
            type, .init(codingPath: path(), debugDescription: "Expected to decode \(type) but found \(found) instead."))
    }
}

/// A decoder positioned on one value. 20 bytes: it fits an existential's inline buffer (see
/// ``DecodingState/childPath(_:_:)``).
struct ValueDecoder: Decoder {
    let state: DecodingState
    private let lower: Int32
    private let upper: Int32
    /// This value's coding path in the state's path tree.
    let path: DecodingState.PathRef
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(state: DecodingState, range: Range<Int>, path: DecodingState.PathRef = DecodingState.rootPath) {
        self.state = state
        self.lower = Int32(truncatingIfNeeded: range.lowerBound)
        self.upper = Int32(truncatingIfNeeded: range.upperBound)
        self.path = path
    }

    var range: Range<Int> { Int(lower)..<Int(upper) }

    /// Spelled out on demand: most decoders are asked only for a container.
    var codingPath: [any CodingKey] { state.codingPath(path) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard state.firstByte(range) == UInt8(ascii: "{") else {
            throw state.mismatch([String: Any].self, range) { codingPath }
        }
        return KeyedDecodingContainer(
            KeyedValues<Key>(state: state, members: try state.members(ofObjectAt: range), path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard state.firstByte(range) == UInt8(ascii: "[") else {
            throw state.mismatch([Any].self, range) { codingPath }
        }
        return ArrayValues(state: state, elements: try state.elements(ofArrayAt: range), path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    /// `T` at this value (see ``DecodingState/decodeValue(_:at:path:key:)``).
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        try state.decodeValue(type, at: range, path: path, key: nil)
    }
}

extension RawJSON {
    /// The members of the object `decoder` is on whose keys `include` accepts, each with its exact text, in order —
    /// one scan of the object, however many members are asked for — when `decoder` is one of ``JSONBytesDecoder``'s:
    /// what a type keeps unread it can then take in the same pass instead of leaving a placeholder for a second scan
    /// of the body. Nil for any other decoder (Foundation's cannot hand out text).
    public static func members(
        of decoder: any Decoder, where include: (String) -> Bool
    ) throws -> [(key: String, value: RawJSON)]? {
        guard let decoder = decoder.asValueDecoder else { return nil }
        return try decoder.rawMembers(where: include)
    }
}

extension ValueDecoder {
    func rawMembers(where include: (String) -> Bool) throws -> [(key: String, value: RawJSON)] {
        guard state.firstByte(range) == UInt8(ascii: "{") else { return [] }
        return try state.members(ofObjectAt: range).compactMap { index in
            let member = state.memberStore[index]
            let key = state.string(keyAt: member.key)
            guard include(key) else { return nil }
            return (key, RawJSON(validated: Data(UnsafeRawBufferPointer(rebasing: state.buffer[member.value]))))
        }
    }
}

extension ValueDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { state.isNull(range) }
    func decode(_ type: Bool.Type) throws -> Bool { try state.bool(at: range) { codingPath } }
    func decode(_ type: String.Type) throws -> String { try state.string(at: range) { codingPath } }
    func decode(_ type: Double.Type) throws -> Double { try state.double(at: range) { codingPath } }
    func decode(_ type: Float.Type) throws -> Float { throw state.giveUp("Float") }
    func decode(_ type: Int.Type) throws -> Int { try state.integer(Int.self, at: range) { codingPath } }
    func decode(_ type: Int8.Type) throws -> Int8 { try state.integer(Int8.self, at: range) { codingPath } }
    func decode(_ type: Int16.Type) throws -> Int16 { try state.integer(Int16.self, at: range) { codingPath } }
    func decode(_ type: Int32.Type) throws -> Int32 { try state.integer(Int32.self, at: range) { codingPath } }
    func decode(_ type: Int64.Type) throws -> Int64 { try state.integer(Int64.self, at: range) { codingPath } }
    func decode(_ type: UInt.Type) throws -> UInt { try state.integer(UInt.self, at: range) { codingPath } }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try state.integer(UInt8.self, at: range) { codingPath } }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try state.integer(UInt16.self, at: range) { codingPath } }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try state.integer(UInt32.self, at: range) { codingPath } }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try state.integer(UInt64.self, at: range) { codingPath } }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }
}

/// An object's members, looked up by comparing key bytes (objects on the bus have a dozen members at most).
struct KeyedValues<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: DecodingState
    /// This object's run in ``DecodingState/memberStore``.
    let members: Range<Int>
    /// This object's coding path in the state's path tree.
    let path: DecodingState.PathRef

    var codingPath: [any CodingKey] { state.codingPath(path) }

    /// One allocation for the array (`compactMap` grew it one member at a time: three or four for a header object).
    var allKeys: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(members.count)
        for index in members {
            if let key = Key(stringValue: state.string(keyAt: state.memberStore[index].key)) { keys.append(key) }
        }
        return keys
    }

    private func value(_ key: Key) -> Range<Int>? {
        let name = key.stringValue
        for index in members {
            let member = state.memberStore[index]
            if state.key(member.key, equals: name) { return member.value }
        }
        return nil
    }

    private func required(_ key: Key) throws -> Range<Int> {
        guard let range = value(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                                                       debugDescription: "No value associated with key \(key)."))
        }
        return range
    }

    private func decoder(_ key: Key, _ range: Range<Int>) -> ValueDecoder {
        ValueDecoder(state: state, range: range, path: state.childPath(path, key))
    }

    func contains(_ key: Key) -> Bool { value(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { state.isNull(try required(key)) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        // A null is not refused here: a type that reads it (`JSONValue`, an `Optional`) gets it, as from JSONDecoder;
        // scalars refuse it themselves.
        return try state.decodeValue(type, at: try required(key), path: path, key: key)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try presentValue(type, key)
    }

    // The requirements for the standard scalars, written out: otherwise the standard library's default
    // implementations witness them (`contains`, then `decodeNil`, then `decode`: the members scanned three times, and
    // its generic code run unspecialised, looking metadata up on every optional field of every message).
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try presentValue(type, key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try presentValue(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try presentValue(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try presentValue(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try presentValue(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try presentValue(type, key) }

    /// `decodeIfPresent`'s meaning under `JSONDecoder`: nil for a missing key or a null.
    private func presentValue<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let range = value(key), !state.isNull(range) else { return nil }
        return try state.decodeValue(type, at: range, path: path, key: key)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try decoder(key, try required(key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(key, try required(key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { throw state.giveUp("superDecoder") }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw state.giveUp("superDecoder") }
}

/// An array's elements, read front to back.
struct ArrayValues: UnkeyedDecodingContainer {
    let state: DecodingState
    let elements: [Range<Int>]
    /// This array's coding path in the state's path tree.
    let path: DecodingState.PathRef
    var currentIndex = 0

    init(state: DecodingState, elements: [Range<Int>], path: DecodingState.PathRef) {
        self.state = state
        self.elements = elements
        self.path = path
    }

    var codingPath: [any CodingKey] { state.codingPath(path) }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next<T>(_ type: T.Type) throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath,
                                                          debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(state: state, range: elements[currentIndex], path: state.childPath(path, IndexKey(currentIndex)))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end.")) }
        if state.isNull(elements[currentIndex]) {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath,
                                                          debugDescription: "Unkeyed container is at end."))
        }
        let range = elements[currentIndex], index = currentIndex
        let value = try state.decodeValue(type, at: range, path: path, key: IndexKey(index))
        currentIndex += 1
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next(type).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next([Any].self).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { throw state.giveUp("superDecoder") }
}

/// An array index in a coding path.
struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}
