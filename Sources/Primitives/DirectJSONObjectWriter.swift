/// Members of one object, written as they come: ``ObjectWriter`` with the member names as strings.
public struct DirectJSONObjectWriter {
    let state: EncodingState
    let depth: Int
    /// -1 when the object could not be opened: every write then gives up.
    let owner: Int

    private func key(_ name: String) throws {
        try state.beginMember(depth: depth, owner: owner)
        state.writeString(name)
        state.output.append(UInt8(ascii: ":"))
    }

    public func encode(_ value: String, _ name: String) throws {
        try key(name)
        state.writeString(value)
    }

    public func encode(_ value: Int64, _ name: String) throws {
        try key(name)
        state.writeInteger(value)
    }

    /// `value` through the encoder's own paths (`encode(_:forKey:)`).
    public func encode<T: Encodable>(_ value: T, _ name: String) throws {
        try key(name)
        try state.encodeValue(value, depth: depth + 1)
    }

    /// A member whose value `encode` writes through the encoder it is handed (an object of several types' members).
    public func encode(_ name: String, with encode: (any Encoder) throws -> Void) throws {
        try key(name)
        try state.encodeValue(depth: depth + 1, with: encode)
    }

    /// Nothing for nil, like `encodeIfPresent(_:forKey:)`.
    public func encodeIfPresent<T: Encodable>(_ value: T?, _ name: String) throws {
        guard let value else { return }
        try encode(value, name)
    }
}

extension DirectJSONObjectWriter {
    /// The object at `encoder`'s value, opened as `container(keyedBy:)` would open it, when `encoder` is one of
    /// ``JSONBytesEncoder``'s, for a type on every reply's path to write its members directly (no keyed container box
    /// per object). Nil for any other encoder (Foundation's): the type then keeps its `Codable` code — and both must
    /// write the same members in the same order (the codec's differential tests read both back). An object that
    /// cannot be opened makes every write give up, as there. A cast to the concrete encoder, not to a protocol (see
    /// ``DirectJSONObject/of(_:)``).
    public static func of(_ encoder: any Encoder) -> DirectJSONObjectWriter? {
        encoder.asValueEncoder?.directObject()
    }
}

extension Encoder {
    /// This encoder when it is one of ``JSONBytesEncoder``'s (a type comparison, not a runtime cast).
    var asValueEncoder: ValueEncoder? { identityCast(self, to: ValueEncoder.self) }
}

extension ValueEncoder {
    func directObject() -> DirectJSONObjectWriter {
        let opened = (try? state.open(isObject: true, depth: depth, owner: owner)) != nil
        return DirectJSONObjectWriter(state: state, depth: depth, owner: opened ? owner : -1)
    }
}
