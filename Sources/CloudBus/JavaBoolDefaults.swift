/// A `Bool` field whose absence means `true`, as Java's initialiser `boolean success = true` reads a JSON object
/// without it. Encodes as the plain boolean (replies always write `success`, see ``ReplyFactory``).
@propertyWrapper
public struct DefaultTrue: Codable, Hashable, Sendable {
    public var wrappedValue: Bool

    public init(wrappedValue: Bool = true) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        wrappedValue = try decoder.singleValueContainer().decode(Bool.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }
}

/// A `Bool` field whose absence means `false` (Java's default for `boolean`): `canceled`, `connected`, ….
@propertyWrapper
public struct DefaultFalse: Codable, Hashable, Sendable {
    public var wrappedValue: Bool

    public init(wrappedValue: Bool = false) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        wrappedValue = try decoder.singleValueContainer().decode(Bool.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }
}

extension KeyedDecodingContainer {
    /// Lets synthesized decoding of a `@DefaultTrue` field accept a missing key.
    public func decode(_ type: DefaultTrue.Type, forKey key: Key) throws -> DefaultTrue {
        try decodeIfPresent(type, forKey: key) ?? DefaultTrue()
    }

    /// Lets synthesized decoding of a `@DefaultFalse` field accept a missing key.
    public func decode(_ type: DefaultFalse.Type, forKey key: Key) throws -> DefaultFalse {
        try decodeIfPresent(type, forKey: key) ?? DefaultFalse()
    }
}
