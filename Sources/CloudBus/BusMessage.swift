import Primitives

/// A message, reply or event that travels on the bus as `{"<className>": {fields}}`.
///
/// Conforming types carry only their own fields; the shared base fields (`id`, `headers`, `timeout`, …) live in
/// `MessageBase` and are read from and written to the same inner object by `EnvelopeCodec`. A conforming type must
/// not declare a field named like a `MessageBase` field.
public protocol BusMessage: Codable, Sendable {
    /// The Java fully-qualified class name ZStack uses as the envelope key (nested classes use `$`).
    static var className: String { get }

    /// This message in its envelope with `base`, as the bytes a publish takes: ``EnvelopeCodec/encodeBytes(_:base:)``,
    /// the default — not to be implemented otherwise. A requirement so that a message held as `any BusMessage` (every
    /// handler's reply) is encoded by its type's own specialised copy: through an opened existential the generic
    /// codec looked up its wrappers' metadata (`MessageFields<M>`, `OutboundEnvelope<M>`, their containers) at run
    /// time, several lookups a message.
    func envelopeBytes(base: MessageBase) throws -> [UInt8]

    /// This type's fields and the base fields from a body's one object (the one-pass decoder's), for the same
    /// reason: ``EnvelopeCodec`` finds the type by class name, as `any BusMessage.Type`. Default: the codec's.
    static func decodeEnvelopeFields(_ object: JSONBytesDecoder.MemberObject) throws -> (Self, MessageBase)
}

extension BusMessage {
    @inlinable
    public func envelopeBytes(base: MessageBase) throws -> [UInt8] {
        try EnvelopeCodec.encodeBytes(self, base: base)
    }

    @inlinable
    public static func decodeEnvelopeFields(_ object: JSONBytesDecoder.MemberObject) throws -> (Self, MessageBase) {
        let fields = try object.decode(MessageFields<Self>.self)
        return (fields.message, fields.base)
    }
}

/// A reply: `MessageReply` in Java, with `success`, `canceled` and `error` next to the reply's own fields.
///
/// Java initialises `success` to true, so a reply that omits it reads as a success: `ReplyFactory` therefore always
/// writes it as the reply says. Reply initialisers set `success = (error == nil)`; a reply that is a success
/// carrying an error (ZStack's failed ping) sets it explicitly.
public protocol BusReply: BusMessage {
    var success: Bool { get set }
    var canceled: Bool { get set }
    var error: ErrorCode? { get set }
}
