import Foundation

/// An object's members, read with `decodeIfPresent` semantics: a missing member and `null` are nil, a value of the
/// wrong type throws the `DecodingError` `decodeIfPresent` would, and what the one-pass decoder does not vouch for
/// gives the whole decode up, as everywhere in it.
public struct DirectJSONObject {
    let decoder: ValueDecoder
    let members: Range<Int>

    private var state: DecodingState { decoder.state }

    private func value(_ name: String) -> Range<Int>? {
        for index in members {
            let member = state.memberStore[index]
            if state.key(member.key, equals: name) { return member.value }
        }
        return nil
    }

    /// The coding path of member `name`, built only for an error.
    private func path(_ name: String) -> [any CodingKey] { state.codingPath(decoder.path, MemberKey(name)) }

    public func string(_ name: String) throws -> String? {
        guard let range = value(name), !state.isNull(range) else { return nil }
        return try state.string(at: range) { path(name) }
    }

    /// ``string(_:)`` for a value that recurs message after message (a service id): see ``StringInterner``.
    public func recurringString(_ name: String) throws -> String? {
        guard let range = value(name), !state.isNull(range) else { return nil }
        return try state.recurringString(at: range) { path(name) }
    }

    public func int64(_ name: String) throws -> Int64? {
        guard let range = value(name), !state.isNull(range) else { return nil }
        return try state.integer(Int64.self, at: range) { path(name) }
    }

    /// Member `name` as `T` through `T`'s own `init(from:)` (or the scalar paths), like `decodeIfPresent`.
    public func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T? {
        guard let range = value(name), !state.isNull(range) else { return nil }
        return try state.decodeValue(type, at: range, path: decoder.path, key: MemberKey(name))
    }

    /// Visits every member in order (keys are unique here: the decoder gave up on repeated keys).
    public func forEachMember(_ body: (DirectJSONMember) throws -> Void) rethrows {
        for index in members {
            let member = state.memberStore[index]
            try body(DirectJSONMember(object: self, key: member.key, value: member.value))
        }
    }
}

/// One member of a ``DirectJSONObject``: its key compared as bytes, its value read on demand.
public struct DirectJSONMember {
    let object: DirectJSONObject
    let key: Range<Int>
    let value: Range<Int>

    private var state: DecodingState { object.decoder.state }

    /// Whether the key spells `name` (compared as bytes: no string is made).
    public func hasKey(_ name: String) -> Bool { state.key(key, equals: name) }

    /// The key's length in UTF-8 bytes: a reader that knows its members' names can switch on it and compare the key
    /// with one or two names instead of all of them.
    public var keyByteCount: Int { key.count }

    public var keyString: String { state.string(keyAt: key) }

    public var isNull: Bool { state.isNull(value) }

    /// The value as a string (nil for `null`), or the `DecodingError` `decodeIfPresent(String.self)` throws.
    public func string() throws -> String? {
        guard !isNull else { return nil }
        return try state.string(at: value) { state.codingPath(object.decoder.path, MemberKey(keyString)) }
    }

    /// ``string()`` for a value that recurs message after message (a reply inbox): see ``StringInterner``.
    public func recurringString() throws -> String? {
        guard !isNull else { return nil }
        return try state.recurringString(at: value) { state.codingPath(object.decoder.path, MemberKey(keyString)) }
    }

    /// The value as an `Int64` (nil for `null`), or the `DecodingError` `decodeIfPresent(Int64.self)` throws.
    public func int64() throws -> Int64? {
        guard !isNull else { return nil }
        return try state.integer(Int64.self, at: value) {
            state.codingPath(object.decoder.path, MemberKey(keyString))
        }
    }

    /// The value as a boolean (nil for `null`), or the `DecodingError` `decodeIfPresent(Bool.self)` throws.
    public func bool() throws -> Bool? {
        guard !isNull else { return nil }
        return try state.bool(at: value) { state.codingPath(object.decoder.path, MemberKey(keyString)) }
    }

    /// The value as `T` (nil for `null`), like `decodeIfPresent`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T? {
        guard !isNull else { return nil }
        return try state.decodeValue(type, at: value, path: object.decoder.path, key: MemberKey(keyString))
    }

    /// The value's exact text, as ``RawJSON/members(of:where:)`` hands it out.
    public var rawText: RawJSON { RawJSON(validated: Data(UnsafeRawBufferPointer(rebasing: state.buffer[value]))) }
}

/// A member's name as a coding key, for coding paths in errors.
struct MemberKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension DirectJSONObject {
    /// The object at `decoder`'s value when `decoder` is one of ``JSONBytesDecoder``'s, for a type on every
    /// message's path to read its members directly: no keyed container box, no coding-key values, no existential
    /// decoder per scalar. Nil for any other decoder (Foundation's): the type then keeps its `Codable` code — and both
    /// must read the same members the same way (the codec's differential tests hold them together).
    ///
    /// The decoder is recognised by comparing its type with the concrete decoder's (``identityCast(_:to:)``):
    /// `as? any SomeProtocol` looked the conformance up in the runtime's cache on every call (four per echo, ~1 % of
    /// the worker's CPU), and even `as? ValueDecoder` costs a runtime cast.
    ///
    /// Throws the `DecodingError` that `container(keyedBy:)` throws for a value that is not an object, and gives up
    /// (``JSONBytesDecoder/Unsupported``) where `container(keyedBy:)` would.
    public static func of(_ decoder: any Decoder) throws -> DirectJSONObject? {
        guard let decoder = decoder.asValueDecoder else { return nil }
        return try decoder.directObject()
    }
}

extension Decoder {
    /// This decoder when it is one of ``JSONBytesDecoder``'s (a type comparison, not a runtime cast).
    var asValueDecoder: ValueDecoder? { identityCast(self, to: ValueDecoder.self) }
}

extension ValueDecoder {
    func directObject() throws -> DirectJSONObject {
        guard state.firstByte(range) == UInt8(ascii: "{") else {
            throw state.mismatch([String: Any].self, range) { codingPath }
        }
        return DirectJSONObject(decoder: self, members: try state.members(ofObjectAt: range))
    }
}
