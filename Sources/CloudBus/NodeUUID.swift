import Primitives

/// A management-node (or worker) UUID as ZStack writes it: 32 lowercase hex digits, no dashes.
///
/// Validation is on shape only. (ZStack's heartbeat additionally requires version/variant nibbles of a real UUID
/// and deletes node rows that fail; a node id this worker announces should therefore come from a real UUID.)
public struct NodeUUID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Nil unless `rawValue` is exactly 32 characters of `0-9a-f`.
    public init?(rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// Same as `init?(rawValue:)`.
    public init?(_ rawValue: String) {
        self.init(rawValue: rawValue)
    }

    /// A fresh random node id (version 4 UUID, so it also passes ZStack's stricter `isZStackUuid` check).
    public static func random() -> NodeUUID {
        NodeUUID(unchecked: MessageID.random())
    }

    public static func isValid(_ value: String) -> Bool {
        ZStackUUID.isWellFormed(value)
    }

    public var description: String { rawValue }

    public static func < (lhs: NodeUUID, rhs: NodeUUID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(String.self)
        guard Self.isValid(value) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "node uuid must be 32 lowercase hex digits, got \"\(value)\"")
        }
        rawValue = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    private init(unchecked value: String) {
        rawValue = value
    }
}
