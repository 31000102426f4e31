internal import CJSONScan
import Foundation
import Synchronization

/// Encodes `Encodable` values straight into a byte buffer, members in the order the value's `encode(to:)` writes
/// them: no `JSONEncoder` tree. The hot path of every reply (issue 15).
///
/// Output is compact JSON with `/` unescaped, the same values `JSONEncoder` (`.withoutEscapingSlashes`) writes —
/// member order aside, which JSON does not define — and differential tests hold the two together. Like
/// ``JSONBytesDecoder`` it vouches only for what it reproduces: a value it would write differently
/// (`Data`, `Date`, `URL`, `Decimal`, a non-finite number), a container written to after a sibling was opened
/// (only a tree can do that), `superEncoder` — throws ``JSONBytesDecoder/Unsupported`` and the caller uses
/// `JSONEncoder`. ``RawJSON`` is spliced in as its validated text.
public enum JSONBytesEncoder {
    /// Appends `value` as JSON to `bytes`.
    /// - Throws: ``JSONBytesDecoder/Unsupported``, or what `value`'s `encode(to:)` throws; `bytes` is then as it was.
    public static func encode<T: Encodable>(_ value: T, into bytes: inout [UInt8]) throws {
        try encoded(value) { output in output.withBytes { bytes.append(contentsOf: $0) } }
    }

    /// `{"<name>": <value>}`, the value written by `value` through the encoder it is handed (several types' members
    /// into one object, as a message's own fields and its base fields are) — so that a caller need not first build a
    /// value holding copies of them to encode. In an array of exactly its size (the value is written into a buffer kept
    /// between encodes, then copied once).
    /// - Throws: ``JSONBytesDecoder/Unsupported``, or what `value` throws.
    public static func bytes(member name: String, value: (any Encoder) throws -> Void) throws -> [UInt8] {
        try encoded({ state in
            try ValueEncoder(state: state, depth: 0, owner: state.newOwner()).directObject().encode(name, with: value)
        }, read: { $0.bytes() })
    }

    /// `value` as JSON bytes: in one pass when this encoder vouches for it, by `JSONEncoder`
    /// (`.withoutEscapingSlashes`: the same values either way, member order aside) otherwise. For small bodies built
    /// per call (agent commands), where a `JSONEncoder` and its tree cost more than the call's own work.
    public static func data<T: Encodable>(_ value: T) throws -> Data {
        do {
            return try encoded(value) { output in output.withBytes { Data($0) } }
        } catch is JSONBytesDecoder.Unsupported {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .withoutEscapingSlashes
            return try encoder.encode(value)
        }
    }
}

extension JSONBytesEncoder {
    /// `value` encoded into a kept state's buffer, handed to `read` (which copies out what it keeps: the buffer is
    /// the next encode's once `read` returns).
    private static func encoded<T: Encodable, R>(_ value: T, _ read: (borrowing OutputBytes) -> R) throws -> R {
        try encoded({ try $0.encodeValue(value, depth: 0) }, read: read)
    }

    /// What `write` writes at depth 0 of a kept state, handed to `read` likewise.
    private static func encoded<R>(_ write: (EncodingState) throws -> Void,
                                   read: (borrowing OutputBytes) -> R) throws -> R {
        let state = EncodingState.take()
        defer { EncodingState.recycle(state) }
        try write(state)
        state.close(downTo: 0)
        return read(state.output)
    }
}

/// The buffer and the stack of containers open in it. Containers write straight into the buffer; a container deeper
/// than the one being written to is closed first (its value is complete once a shallower one moves on).
///
/// `@unchecked Sendable` only so that the spare state can wait in a `Mutex` between encodes: a state belongs to one
/// encode on one thread from ``take()`` to ``recycle(_:)``, and nothing of that encode holds it afterwards.
final class EncodingState: @unchecked Sendable {
    struct Frame {
        let isObject: Bool
        /// The encoder that opened it (`JSONEncoder` lets one encoder hand out the same keyed container twice).
        let owner: Int
        var hasMembers = false
    }

    // Unchecked exclusivity: the state belongs to one `encode` call on one thread, and every write to the buffer
    // would otherwise pay a dynamic access check (a measurable share of a reply's cost).
    @exclusivity(unchecked) var output = OutputBytes()
    @exclusivity(unchecked) var frames: [Frame] = []
    @exclusivity(unchecked) private var nextOwner = 0

    init() {
        frames.reserveCapacity(8)
    }

    /// One state kept between encodes, with its buffer and its frame stack's storage: an encode then allocates
    /// neither. Taken for the length of one encode, so concurrent and nested encodes each get their own (the second
    /// makes a new one).
    private static let spare = Mutex<EncodingState?>(nil)

    /// A state kept only while its buffer is at most this big: one huge reply does not pin its buffer for good.
    static let keptCapacity = 64 * 1024

    static func take() -> EncodingState {
        spare.withLock({ $0.take() }) ?? EncodingState()
    }

    /// Keeps `state` for the next encode, holding nothing of this one (its bytes were copied out).
    static func recycle(_ state: EncodingState) {
        guard state.frames.capacity <= 64, state.output.reservedCapacity <= keptCapacity else { return }
        state.output.removeAll()
        state.frames.removeAll(keepingCapacity: true)
        state.nextOwner = 0
        spare.withLock { $0 = state }
    }

    func newOwner() -> Int {
        nextOwner += 1
        return nextOwner
    }

    func close(downTo depth: Int) {
        while frames.count > depth {
            output.append(frames.removeLast().isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    /// Makes the frame at `depth`, opened by `owner`, the innermost one and writes the separator for its next
    /// member; gives up when that frame was closed already (a container used after a sibling was opened).
    func beginMember(depth: Int, owner: Int) throws {
        guard depth < frames.count, frames[depth].owner == owner else {
            throw JSONBytesDecoder.Unsupported(reason: "a container written to after it was closed")
        }
        close(downTo: depth + 1)
        if frames[depth].hasMembers { output.append(UInt8(ascii: ",")) }
        frames[depth].hasMembers = true
    }

    func open(isObject: Bool, depth: Int, owner: Int) throws {
        if depth < frames.count, frames[depth].owner == owner, frames[depth].isObject == isObject { return }
        guard frames.count == depth else {
            throw JSONBytesDecoder.Unsupported(reason: "a second container for one value")
        }
        output.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
        frames.append(Frame(isObject: isObject, owner: owner))
    }

    /// `value` as one complete JSON value at `depth` (its containers, if any, open at that depth and are closed
    /// when it is done).
    func encodeValue<T: Encodable>(_ value: T, depth: Int) throws {
        // Types are told apart by their metadata (a pointer compare), not by `as?` casts, which cost a runtime
        // call each — a conformance lookup for a protocol — on every nested value.
        if T.self == String.self { return writeString(unsafeBitCast(value, to: String.self)) }
        if T.self == Int64.self { return writeInteger(unsafeBitCast(value, to: Int64.self)) }
        if T.self == Int.self { return writeInteger(unsafeBitCast(value, to: Int.self)) }
        if T.self == Bool.self { return writeBool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == Double.self { return try writeDouble(unsafeBitCast(value, to: Double.self)) }
        if T.self == RawJSON.self {
            let raw = unsafeBitCast(value, to: RawJSON.self)
            guard !raw.bytes.isEmpty else { throw JSONBytesDecoder.Unsupported(reason: "an empty RawJSON") }
            raw.bytes.withUnsafeBytes { output.append($0) }
            return
        }
        // The other integer widths: the containers' generic `encode` stands in for their overloads, so they arrive
        // here and must not go through `encode(to:)` (which would call that overload again).
        if T.self == Int32.self { return writeInteger(unsafeBitCast(value, to: Int32.self)) }
        if T.self == Int16.self { return writeInteger(unsafeBitCast(value, to: Int16.self)) }
        if T.self == Int8.self { return writeInteger(unsafeBitCast(value, to: Int8.self)) }
        if T.self == UInt64.self { return writeInteger(unsafeBitCast(value, to: UInt64.self)) }
        if T.self == UInt.self { return writeInteger(unsafeBitCast(value, to: UInt.self)) }
        if T.self == UInt32.self { return writeInteger(unsafeBitCast(value, to: UInt32.self)) }
        if T.self == UInt16.self { return writeInteger(unsafeBitCast(value, to: UInt16.self)) }
        if T.self == UInt8.self { return writeInteger(unsafeBitCast(value, to: UInt8.self)) }
        if T.self == [String: String].self { return writeStringMap(unsafeBitCast(value, to: [String: String].self)) }
        if T.self == Float.self || T.self == Float16.self {
            throw JSONBytesDecoder.Unsupported(reason: "\(T.self), which JSONEncoder writes in its own precision")
        }
        if T.self == Data.self || T.self == Date.self || T.self == URL.self || T.self == Decimal.self {
            throw JSONBytesDecoder.Unsupported(reason: "\(T.self), which JSONEncoder encodes its own way")
        }
        try encodeValue(depth: depth) { try value.encode(to: $0) }
    }

    /// The value `encode` writes through a new encoder at `depth`, as one complete JSON value.
    func encodeValue(depth: Int, with encode: (any Encoder) throws -> Void) throws {
        let before = output.count
        try encode(ValueEncoder(state: self, depth: depth, owner: newOwner()))
        guard output.count > before else {
            throw JSONBytesDecoder.Unsupported(reason: "a value that encoded nothing")
        }
        close(downTo: depth)
    }

    // MARK: Scalars

    func writeBool(_ value: Bool) {
        output.append(value ? "true" : "false")
    }

    /// A `[String: String]` (every message's `headers.schema`) as `Dictionary`'s `encode(to:)` writes it — one
    /// member per entry, in the dictionary's order — without a keyed container's box.
    func writeStringMap(_ map: [String: String]) {
        output.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in map {
            if !first { output.append(UInt8(ascii: ",")) }
            first = false
            writeString(key)
            output.append(UInt8(ascii: ":"))
            writeString(value)
        }
        output.append(UInt8(ascii: "}"))
    }

    func writeNull() { output.append("null") }

    func writeInteger<T: FixedWidthInteger>(_ value: T) {
        if value == 0 {
            output.append(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: the longest integer has 20 digits
        var magnitude = value.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude != 0 {
                let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: 10)
                buffer[23 - count] = UInt8(ascii: "0") + UInt8(remainder)
                magnitude = quotient
                count += 1
            }
        }
        if value < 0 { output.append(UInt8(ascii: "-")) }
        withUnsafeBytes(of: &digits) { buffer in
            output.append(UnsafeRawBufferPointer(rebasing: buffer[(24 - count)...]))
        }
    }

    func writeDouble(_ value: Double) throws {
        guard value.isFinite else {
            throw JSONBytesDecoder.Unsupported(reason: "a non-finite number (JSONEncoder refuses it)")
        }
        if value.rounded() == value, abs(value) < 9_007_199_254_740_992 {
            writeInteger(Int64(value))
        } else {
            // Swift's shortest round-tripping form ("0.1", "1e-05"): valid JSON, the same number.
            output.append(contentsOf: value.description.utf8)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A JSON string: `"`, `\` and control characters escaped, everything else (UTF-8, `/`) as it is. Runs with
    /// nothing to escape (ids, names, payloads) are found sixteen bytes at a time and copied whole.
    func writeString(_ string: String) {
        // Read in place: a native string's bytes are contiguous. Copying the string into a `var` for `withUTF8` cost
        // a retain and a release of its storage per string written, the encoder's largest share of either.
        if string.utf8.withContiguousStorageIfAvailable({ writeString(utf8: $0) }) != nil { return }
        var string = string
        string.withUTF8 { writeString(utf8: $0) }
    }

    private func writeString(utf8: UnsafeBufferPointer<UInt8>) {
        output.append(UInt8(ascii: "\""))
        guard let base = utf8.baseAddress else { return output.append(UInt8(ascii: "\"")) }
        let count = utf8.count
        var start = 0
        while true {
            // Sixteen bytes at a time, in C (CJSONScan): byte by byte in Swift, a string's last one to seven bytes
            // cost ~28 instructions each; word by word, ~25 per eight bytes.
            let index = start + cbw_json_escape_offset(base + start, count - start)
            guard index < count else { break }
            let byte = base[index]
            output.append(UnsafeBufferPointer(start: base + start, count: index - start))
            start = index + 1
            output.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
            case 0x0A: output.append(UInt8(ascii: "n"))
            case 0x0D: output.append(UInt8(ascii: "r"))
            case 0x09: output.append(UInt8(ascii: "t"))
            case 0x08: output.append(UInt8(ascii: "b"))
            case 0x0C: output.append(UInt8(ascii: "f"))
            default:
                output.append("u00")
                output.append(Self.hexDigits[Int(byte >> 4)])
                output.append(Self.hexDigits[Int(byte & 0x0F)])
            }
        }
        output.append(UnsafeBufferPointer(start: base + start, count: count - start))
        output.append(UInt8(ascii: "\""))
    }
}

/// The encoder handed to one value's `encode(to:)`.
struct ValueEncoder: Encoder {
    let state: EncodingState
    let depth: Int
    let owner: Int
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let opened: Bool
        do {
            try state.open(isObject: true, depth: depth, owner: owner)
            opened = true
        } catch {
            opened = false
        }
        return KeyedEncodingContainer(ObjectWriter<Key>(state: state, depth: depth, owner: opened ? owner : -1))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let opened = (try? state.open(isObject: false, depth: depth, owner: owner)) != nil
        return ArrayWriter(state: state, depth: depth, owner: opened ? owner : -1)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueWriter(state: state, depth: depth) }
}

/// Members of one object, written as they come.
struct ObjectWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: EncodingState
    let depth: Int
    /// -1 when the object could not be opened: every write then gives up.
    let owner: Int
    var codingPath: [any CodingKey] { [] }

    private func key(_ key: Key) throws {
        try state.beginMember(depth: depth, owner: owner)
        state.writeString(key.stringValue)
        state.output.append(UInt8(ascii: ":"))
    }

    mutating func encodeNil(forKey key: Key) throws {
        try self.key(key)
        state.writeNull()
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try self.key(key)
        state.writeBool(value)
    }

    mutating func encode(_ value: String, forKey key: Key) throws {
        try self.key(key)
        state.writeString(value)
    }

    mutating func encode(_ value: Int64, forKey key: Key) throws {
        try self.key(key)
        state.writeInteger(value)
    }

    mutating func encode(_ value: Int, forKey key: Key) throws {
        try self.key(key)
        state.writeInteger(value)
    }

    mutating func encode(_ value: Int32, forKey key: Key) throws {
        try self.key(key)
        state.writeInteger(value)
    }

    mutating func encode(_ value: Double, forKey key: Key) throws {
        try self.key(key)
        try state.writeDouble(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try self.key(key)
        try state.encodeValue(value, depth: depth + 1)
    }

    // `encodeIfPresent` written out, generic and for the standard scalars: otherwise the standard library's default
    // implementations witness them, generic code run unspecialised that looks metadata up for every optional field
    // of every reply (in process, a tenth of a reply's encode). `JSONEncoder`'s meaning: nil writes nothing. Each
    // calls its own type's `encode`: one generic helper for all of them (through `encodeValue`) measured 2.58 µs per
    // reply against these 2.44.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value, forKey: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let child = ValueEncoder(state: state, depth: depth + 1, owner: state.newOwner())
        guard (try? self.key(key)) != nil else {
            return KeyedEncodingContainer(ObjectWriter<NestedKey>(state: state, depth: depth + 1, owner: -1))
        }
        return child.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = ValueEncoder(state: state, depth: depth + 1, owner: state.newOwner())
        guard (try? self.key(key)) != nil else { return ArrayWriter(state: state, depth: depth + 1, owner: -1) }
        return child.unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { UnsupportedEncoder(state: state) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { UnsupportedEncoder(state: state) }
}

/// Elements of one array, written as they come.
struct ArrayWriter: UnkeyedEncodingContainer {
    let state: EncodingState
    let depth: Int
    let owner: Int
    var count = 0
    var codingPath: [any CodingKey] { [] }

    init(state: EncodingState, depth: Int, owner: Int) {
        self.state = state
        self.depth = depth
        self.owner = owner
    }

    mutating func encodeNil() throws {
        try state.beginMember(depth: depth, owner: owner)
        count += 1
        state.writeNull()
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try state.beginMember(depth: depth, owner: owner)
        count += 1
        try state.encodeValue(value, depth: depth + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        guard (try? state.beginMember(depth: depth, owner: owner)) != nil else {
            return KeyedEncodingContainer(ObjectWriter<NestedKey>(state: state, depth: depth + 1, owner: -1))
        }
        count += 1
        return ValueEncoder(state: state, depth: depth + 1, owner: state.newOwner()).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        guard (try? state.beginMember(depth: depth, owner: owner)) != nil else {
            return ArrayWriter(state: state, depth: depth + 1, owner: -1)
        }
        count += 1
        return ValueEncoder(state: state, depth: depth + 1, owner: state.newOwner()).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { UnsupportedEncoder(state: state) }
}

/// One value written in place (at most once, as `JSONEncoder` requires).
struct SingleValueWriter: SingleValueEncodingContainer {
    let state: EncodingState
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    private func begin() throws {
        guard state.frames.count == depth else {
            throw JSONBytesDecoder.Unsupported(reason: "a single value next to a container")
        }
    }

    mutating func encodeNil() throws {
        try begin()
        state.writeNull()
    }

    mutating func encode(_ value: Bool) throws {
        try begin()
        state.writeBool(value)
    }

    mutating func encode(_ value: String) throws {
        try begin()
        state.writeString(value)
    }

    mutating func encode(_ value: Double) throws {
        try begin()
        try state.writeDouble(value)
    }

    mutating func encode(_ value: Int64) throws {
        try begin()
        state.writeInteger(value)
    }

    mutating func encode(_ value: Int) throws {
        try begin()
        state.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        try state.encodeValue(value, depth: depth)
    }
}

/// What `superEncoder` returns: every container it hands out gives up on first use.
struct UnsupportedEncoder: Encoder {
    let state: EncodingState
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(ObjectWriter<Key>(state: state, depth: Int.max / 2, owner: -1))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        ArrayWriter(state: state, depth: Int.max / 2, owner: -1)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueWriter(state: state, depth: Int.max / 2)
    }
}
