import Foundation

/// A typed message together with its base fields: what is encoded as `{"<className>": {fields}}`.
public struct Envelope<Message: BusMessage>: Sendable {
    public var message: Message
    public var base: MessageBase

    public init(message: Message, base: MessageBase) {
        self.message = message
        self.base = base
    }

    /// The envelope key, `Message.className`.
    public var className: String { Message.className }

    /// The UTF-8 JSON body, as `EnvelopeCodec.encode` writes it.
    public func encoded() throws -> Data {
        try EnvelopeCodec.encode(message, base: base)
    }

    /// The same body as bytes, for a publish (no copy into `Data` and back).
    public func encodedBytes() throws -> [UInt8] {
        try EnvelopeCodec.encodeBytes(message, base: base)
    }
}

extension Envelope: Equatable where Message: Equatable {}
extension Envelope: Hashable where Message: Hashable {}
