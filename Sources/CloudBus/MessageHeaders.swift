import Foundation
import Primitives

/// The `headers` map every ZStack message carries inside its JSON body.
///
/// Correlation and reply routing travel here, not in AMQP properties. ZStack reads `noReply` and `isReply` with
/// `Boolean.valueOf((String) …)`, so they are kept and always written as the strings `"true"`/`"false"`; a JSON
/// boolean received in their place is accepted and normalised to a string. Keys this type does not name, and the
/// opaque `task-context`, are kept as raw JSON text (``RawJSON``) and written back unchanged: never decoded into a
/// tree, so a hostile 1 MiB array in a header costs the consumer one linear scan (`EnvelopeCodec` fills them in).
public struct MessageHeaders: Sendable, Hashable {
    /// Request: its own `id`. Reply: the `id` of the request it answers.
    public var correlationId: String?
    /// Request: the routing key of the sender's reply inbox (`zstack.message.cloudbus.<node>`).
    public var replyTo: String?
    /// Raw `noReply` string; `"true"` means the sender does not want a reply.
    public var noReply: String?
    /// Raw `isReply` string; `"true"` on replies.
    public var isReply: String?
    /// `field path -> Java class` entries telling ZStack how to rebuild polymorphic fields (see `MessageSchema`).
    public var schema: [String: String]?
    /// `task-context`: the sender's logging context (AMQP era) or `TaskContext` (HTTP era). Opaque to us.
    public var taskContext: RawJSON?
    /// Every other header, verbatim.
    public var extra: [String: RawJSON]

    public init(
        correlationId: String? = nil,
        replyTo: String? = nil,
        noReply: String? = nil,
        isReply: String? = nil,
        schema: [String: String]? = nil,
        taskContext: RawJSON? = nil,
        extra: [String: RawJSON] = [:]
    ) {
        self.correlationId = correlationId
        self.replyTo = replyTo
        self.noReply = noReply
        self.isReply = isReply
        self.schema = schema
        self.taskContext = taskContext
        self.extra = extra
    }

    /// `noReply` as ZStack reads it: true only for the string "true", ignoring case.
    public var isNoReply: Bool { Self.isTrue(noReply) }

    /// `isReply` as ZStack reads it: true only for the string "true", ignoring case.
    public var isReplyMessage: Bool { Self.isTrue(isReply) }

    /// Java's `Boolean.parseBoolean`: "true" in any case. Compared byte by byte with the ASCII case bit folded — what
    /// `lowercased() == "true"` decides (no other character lowercases to one of these four letters) without building
    /// a string, on every request's admission.
    static func isTrue(_ text: String?) -> Bool {
        // The length first (a native string's is stored): "false", the usual value, is answered without a loop.
        guard let text, text.utf8.count == 4 else { return false }
        return text.utf8.elementsEqual("true".utf8) { $0 | 0x20 == $1 }
    }
}

extension MessageHeaders: Codable {
    static let correlationIdKey = "correlationId"
    static let replyToKey = "replyTo"
    static let noReplyKey = "noReply"
    static let isReplyKey = "isReply"
    static let schemaKey = "schema"
    static let taskContextKey = "task-context"

    public init(from decoder: any Decoder) throws {
        self.init()
        // Every message has these: read straight from the bytes when the decoder allows it (same members, same
        // semantics as the container branch below; the raw text is taken in the same visit).
        if let object = try DirectJSONObject.of(decoder) {
            try object.forEachMember { member in
                if member.hasKey(Self.correlationIdKey) {
                    correlationId = try member.string()
                } else if member.hasKey(Self.replyToKey) {
                    replyTo = try member.recurringString()
                } else if member.hasKey(Self.noReplyKey) {
                    noReply = try Self.decodeFlag(member)
                } else if member.hasKey(Self.isReplyKey) {
                    isReply = try Self.decodeFlag(member)
                } else if member.hasKey(Self.schemaKey) {
                    schema = try member.decode([String: String].self)
                } else if member.hasKey(Self.taskContextKey) {
                    taskContext = member.rawText
                } else {
                    extra[member.keyString] = member.rawText
                }
            }
            return
        }
        let container = try decoder.container(keyedBy: DynamicKey.self)
        for key in container.allKeys {
            switch key.stringValue {
            case Self.correlationIdKey: correlationId = try container.decodeIfPresent(String.self, forKey: key)
            case Self.replyToKey: replyTo = try container.decodeIfPresent(String.self, forKey: key)
            case Self.noReplyKey: noReply = try Self.decodeFlag(container, key)
            case Self.isReplyKey: isReply = try Self.decodeFlag(container, key)
            case Self.schemaKey: schema = try container.decodeIfPresent([String: String].self, forKey: key)
            // Not decoded: placeholders for the members' raw text, filled in below or by `EnvelopeCodec`.
            case Self.taskContextKey: taskContext = RawJSON.unread
            default: extra[key.stringValue] = RawJSON.unread
            }
        }
        // The one-pass decoder hands the text out in this pass (one scan of the headers, however many members);
        // under Foundation's the placeholders stay for `EnvelopeCodec`'s second scan of the body.
        if hasUnreadMembers, let members = try RawJSON.members(of: decoder, where: { !Self.decodedKeys.contains($0) }) {
            fillUnread(from: members)
        }
    }

    /// The members decoded into fields; every other one is kept as its text.
    private static let decodedKeys: Set<String> = [correlationIdKey, replyToKey, noReplyKey, isReplyKey, schemaKey]

    /// Whether some members are still placeholders for their raw text.
    var hasUnreadMembers: Bool { taskContext == RawJSON.unread || extra.values.contains(RawJSON.unread) }

    /// Fills the placeholders from the `headers` object's members (key, raw text); a placeholder with no text found
    /// is dropped, never left behind.
    mutating func fillUnread(from members: [(key: String, value: RawJSON)]) {
        var found: [String: RawJSON] = [:]
        for (key, value) in members { found[key] = value }
        if taskContext == RawJSON.unread { taskContext = found[Self.taskContextKey] }
        for (key, value) in extra where value == RawJSON.unread { extra[key] = found[key] }
    }

    /// ``decodeFlag(_:_:)`` for a member read directly, step for step.
    private static func decodeFlag(_ member: DirectJSONMember) throws -> String? {
        if let string = try? member.string() { return string }
        if let bool = try? member.bool() { return bool ? "true" : "false" }
        return try member.string()
    }

    /// Accepts the string ZStack writes, or a JSON boolean from a careless sender.
    private static func decodeFlag(_ container: KeyedDecodingContainer<DynamicKey>, _ key: DynamicKey) throws
        -> String?
    {
        if let string = try? container.decodeIfPresent(String.self, forKey: key) { return string }
        if let bool = try? container.decodeIfPresent(Bool.self, forKey: key) { return bool ? "true" : "false" }
        return try container.decodeIfPresent(String.self, forKey: key)
    }

    public func encode(to encoder: any Encoder) throws {
        // Every message has these: written straight into the bytes when the encoder allows it (same members, same
        // order as the container branch below).
        if let object = DirectJSONObjectWriter.of(encoder) {
            for (key, value) in extra { try object.encode(value, key) }
            try object.encodeIfPresent(correlationId, Self.correlationIdKey)
            try object.encodeIfPresent(replyTo, Self.replyToKey)
            try object.encodeIfPresent(noReply, Self.noReplyKey)
            try object.encodeIfPresent(isReply, Self.isReplyKey)
            try object.encodeIfPresent(schema, Self.schemaKey)
            try object.encodeIfPresent(taskContext, Self.taskContextKey)
            return
        }
        var container = encoder.container(keyedBy: DynamicKey.self)
        for (key, value) in extra {
            try container.encode(value, forKey: DynamicKey(key))
        }
        try container.encodeIfPresent(correlationId, forKey: DynamicKey(Self.correlationIdKey))
        try container.encodeIfPresent(replyTo, forKey: DynamicKey(Self.replyToKey))
        try container.encodeIfPresent(noReply, forKey: DynamicKey(Self.noReplyKey))
        try container.encodeIfPresent(isReply, forKey: DynamicKey(Self.isReplyKey))
        try container.encodeIfPresent(schema, forKey: DynamicKey(Self.schemaKey))
        try container.encodeIfPresent(taskContext, forKey: DynamicKey(Self.taskContextKey))
    }
}

extension RawJSON {
    /// A member whose text the codec has not copied out yet (empty bytes: never valid JSON, never sent).
    static let unread = RawJSON(validated: Data())
}

extension MessageHeaders {
    /// Best-effort reading of a `headers` object that failed strict decoding, from its members' raw text: keeps
    /// every member whose type is right and drops the rest, so an error reply can still find `replyTo` and
    /// `correlationId`. Only the small known members are decoded; the rest stay raw.
    init(lenient members: [(key: String, value: Range<Int>)], in body: Data) {
        self.init()
        let value = { (range: Range<Int>) in try? JSONValue(parsing: JSONScanner.slice(body, range)) }
        for (key, range) in members {
            switch key {
            case Self.correlationIdKey: correlationId = value(range)?.stringValue
            case Self.replyToKey: replyTo = value(range)?.stringValue
            case Self.noReplyKey: noReply = value(range).flatMap(Self.flag)
            case Self.isReplyKey: isReply = value(range).flatMap(Self.flag)
            case Self.schemaKey: schema = value(range)?.objectValue.map { $0.compactMapValues(\.stringValue) }
            case Self.taskContextKey: taskContext = RawJSON(validated: JSONScanner.slice(body, range))
            default: extra[key] = RawJSON(validated: JSONScanner.slice(body, range))
            }
        }
    }

    private static func flag(_ value: JSONValue) -> String? {
        value.stringValue ?? value.boolValue.map { $0 ? "true" : "false" }
    }
}
