import Primitives

/// A message's own fields and its base fields, read from and written to one JSON object.
///
/// Both halves use the same decoder/encoder, so the object is walked once per half and never re-parsed.
@usableFromInline  // by the inlinable defaults of `BusMessage`, so that each message type gets its own copy
struct MessageFields<Message: BusMessage>: Codable {
    @usableFromInline var message: Message
    @usableFromInline var base: MessageBase

    @usableFromInline
    init(message: Message, base: MessageBase) {
        self.message = message
        self.base = base
    }

    @usableFromInline
    init(from decoder: any Decoder) throws {
        message = try Message(from: decoder)
        base = try MessageBase(from: decoder)
    }

    /// Own fields, then base fields, into one object. Member order in the output is unspecified (Foundation's
    /// encoder does not keep it); JSON readers, Gson included, do not depend on it.
    @usableFromInline
    func encode(to encoder: any Encoder) throws {
        try Self.encode(message, base, to: encoder)
    }

    /// The one order of the two halves, for ``encode(to:)`` and for the codec writing them without a `MessageFields`.
    @inlinable
    static func encode(_ message: Message, _ base: MessageBase, to encoder: any Encoder) throws {
        try message.encode(to: encoder)
        try base.encode(to: encoder)
    }
}

/// `{"<className>": {fields}}` on the way out.
@usableFromInline
struct OutboundEnvelope<Message: BusMessage>: Encodable {
    @usableFromInline var fields: MessageFields<Message>

    @usableFromInline
    init(fields: MessageFields<Message>) { self.fields = fields }

    @usableFromInline
    func encode(to encoder: any Encoder) throws {
        // Every reply: straight into the bytes when the encoder allows it (the same one member as below).
        if let object = DirectJSONObjectWriter.of(encoder) {
            try object.encode(fields, Message.className)
            return
        }
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(fields, forKey: DynamicKey(Message.className))
    }
}

/// `{"<className>": {fields}}` on the way in: reads the single key, finds the type in the registry passed through
/// `userInfo`, and decodes message and base in the same `JSONDecoder` pass.
///
/// Failures here are only signals; `EnvelopeCodec` diagnoses them on its slow path.
struct InboundEnvelope: Decodable {
    let decoded: DecodedEnvelope

    /// The body's shape or class is not one this decoder accepts; `EnvelopeCodec` works out which.
    struct Rejected: Error {}

    init(from decoder: any Decoder) throws {
        guard let registry = decoder.userInfo[MessageRegistry.userInfoKey] as? MessageRegistry else {
            // Only EnvelopeCodec constructs decoders for this type, and it always sets the registry.
            preconditionFailure("InboundEnvelope decoded without a MessageRegistry in userInfo")
        }
        let outer = try decoder.container(keyedBy: DynamicKey.self)
        let keys = outer.allKeys
        guard keys.count == 1, let key = keys.first, let position = registry.position(of: key.stringValue) else {
            throw Rejected()
        }
        decoded = try Self.decode(registry.type(at: position), from: outer, forKey: key, position: position)
    }

    /// Opens the registered existential type so the generic `MessageFields<M>` decodes it directly.
    private static func decode<M: BusMessage>(
        _ type: M.Type,
        from container: KeyedDecodingContainer<DynamicKey>,
        forKey key: DynamicKey,
        position: Int
    ) throws -> DecodedEnvelope {
        let fields = try container.decode(MessageFields<M>.self, forKey: key)
        return DecodedEnvelope(className: key.stringValue, base: fields.base, message: fields.message,
                               classPosition: position)
    }
}
