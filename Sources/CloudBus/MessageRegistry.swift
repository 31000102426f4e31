import Foundation

/// Which Swift type decodes which Java class name. Immutable once built, so one registry can be shared by every
/// consumer thread.
public struct MessageRegistry: Sendable {
    private let types: [String: any BusMessage.Type]

    /// - Precondition: no two types share a `className` (that would make decoding ambiguous; it is a programming
    ///   error, not a runtime condition).
    public init(_ types: [any BusMessage.Type]) {
        var table: [String: any BusMessage.Type] = [:]
        for type in types {
            precondition(table[type.className] == nil, "two message types registered for \(type.className)")
            table[type.className] = type
        }
        self.types = table
    }

    /// The type registered for `className`, or nil when this worker does not handle that class.
    public func type(named className: String) -> (any BusMessage.Type)? {
        types[className]
    }

    /// This registry plus `additional` types (same precondition as `init`).
    public func adding(_ additional: [any BusMessage.Type]) -> MessageRegistry {
        MessageRegistry(Array(types.values) + additional)
    }

    /// Every registered class name, sorted (for logs and diagnostics).
    public var classNames: [String] { types.keys.sorted() }

    /// The message types of the wire itself: the generic reply and the canonical event. Domain modules add theirs
    /// (`KVMMessageTypes.all`, `ZbsMessageTypes.all`); the worker's full catalogue is `MessageCatalogue.all`.
    public static let wireTypes: [any BusMessage.Type] = [MessageReply.self, CanonicalEvent.self]

    /// Where `EnvelopeCodec` hands the registry to the decoding wrapper.
    static let userInfoKey = CodingUserInfoKey(rawValue: "cloudbus.message-registry")!
}
