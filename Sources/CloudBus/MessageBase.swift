import Foundation
import Primitives

/// The fields every ZStack message shares (`Message` and `NeedReplyMessage` in Java), read from and written to the
/// same inner JSON object as the message's own fields.
///
/// Java defaults apply to absent fields, because Gson leaves field initialisers in place: `timeout` and
/// `messageDeadline` are -1, and a missing `id` or `createdTime` is regenerated (fresh id, current time), as
/// `Message`'s constructor does. `timeout`/`messageDeadline` are written only when they differ from -1, which is
/// what Java reads back either way and keeps replies and events free of request-only fields.
public struct MessageBase: Sendable, Hashable {
    /// 32 lowercase hex digits; the request's id is the reply's `correlationId`.
    public var id: String
    /// Destination service id (`<service>.<node>`), or for replies the reply-inbox routing key. Events have none.
    public var serviceId: String?
    /// Creation time in epoch milliseconds.
    public var createdTime: Int64
    /// Time budget in milliseconds; -1 (or any value <= 0) means none. See `MessageDeadline`.
    public var timeout: Int64
    /// Absolute deadline in epoch milliseconds; -1 (or any value <= 0) means none. Wins over `timeout`.
    public var messageDeadline: Int64
    public var headers: MessageHeaders
    public var systemTags: [String]?
    public var userTags: [String]?

    public static let noTimeout: Int64 = -1

    public init(
        id: String = MessageID.random(),
        serviceId: String? = nil,
        createdTime: Int64,
        timeout: Int64 = MessageBase.noTimeout,
        messageDeadline: Int64 = MessageBase.noTimeout,
        headers: MessageHeaders = MessageHeaders(),
        systemTags: [String]? = nil,
        userTags: [String]? = nil
    ) {
        self.id = id
        self.serviceId = serviceId
        self.createdTime = createdTime
        self.timeout = timeout
        self.messageDeadline = messageDeadline
        self.headers = headers
        self.systemTags = systemTags
        self.userTags = userTags
    }
}

extension MessageBase: Codable {
    enum CodingKeys: String, CodingKey {
        case id, serviceId, createdTime, timeout, messageDeadline, headers, systemTags, userTags
    }

    public init(from decoder: any Decoder) throws {
        // Every message decodes one of these: read straight from the bytes when the decoder allows it, with the
        // same semantics as the container branch (`decodeIfPresent`; a failure gives the one-pass decode up, and the
        // container branch then reports it). One visit of the object's members, each key compared with the one or
        // two names of its length: looking each name up scanned every member, ~38 key comparisons per message.
        if let object = try DirectJSONObject.of(decoder) {
            var id: String?, serviceId: String?, createdTime: Int64?, timeout: Int64?, messageDeadline: Int64?
            var headers: MessageHeaders?, systemTags: [String]?, userTags: [String]?
            try object.forEachMember { member in
                switch member.keyByteCount {
                case 2: if member.hasKey(CodingKeys.id.rawValue) { id = try member.string() }
                case 9: if member.hasKey(CodingKeys.serviceId.rawValue) { serviceId = try member.recurringString() }
                case 11: if member.hasKey(CodingKeys.createdTime.rawValue) { createdTime = try member.int64() }
                case 7:
                    if member.hasKey(CodingKeys.timeout.rawValue) {
                        timeout = try member.int64()
                    } else if member.hasKey(CodingKeys.headers.rawValue) {
                        headers = try member.decode(MessageHeaders.self)
                    }
                case 15:
                    if member.hasKey(CodingKeys.messageDeadline.rawValue) { messageDeadline = try member.int64() }
                case 10:
                    if member.hasKey(CodingKeys.systemTags.rawValue) { systemTags = try member.decode([String].self) }
                case 8: if member.hasKey(CodingKeys.userTags.rawValue) { userTags = try member.decode([String].self) }
                default: break
                }
            }
            self.id = id ?? MessageID.random()
            self.serviceId = serviceId
            self.createdTime = createdTime ?? EpochMillis.now()
            self.timeout = timeout ?? Self.noTimeout
            self.messageDeadline = messageDeadline ?? Self.noTimeout
            self.headers = headers ?? MessageHeaders()
            self.systemTags = systemTags
            self.userTags = userTags
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id) ?? MessageID.random()
        serviceId = try container.decodeIfPresent(String.self, forKey: .serviceId)
        createdTime = try container.decodeIfPresent(Int64.self, forKey: .createdTime) ?? EpochMillis.now()
        timeout = try container.decodeIfPresent(Int64.self, forKey: .timeout) ?? Self.noTimeout
        messageDeadline = try container.decodeIfPresent(Int64.self, forKey: .messageDeadline) ?? Self.noTimeout
        headers = try container.decodeIfPresent(MessageHeaders.self, forKey: .headers) ?? MessageHeaders()
        systemTags = try container.decodeIfPresent([String].self, forKey: .systemTags)
        userTags = try container.decodeIfPresent([String].self, forKey: .userTags)
    }

    public func encode(to encoder: any Encoder) throws {
        // Every reply writes one of these: straight into the bytes when the encoder allows it, the same members in
        // the same order as the container branch below.
        if let object = DirectJSONObjectWriter.of(encoder) {
            if timeout != Self.noTimeout { try object.encode(timeout, CodingKeys.timeout.rawValue) }
            if messageDeadline != Self.noTimeout {
                try object.encode(messageDeadline, CodingKeys.messageDeadline.rawValue)
            }
            try object.encodeIfPresent(systemTags, CodingKeys.systemTags.rawValue)
            try object.encodeIfPresent(userTags, CodingKeys.userTags.rawValue)
            try object.encode(headers, CodingKeys.headers.rawValue)
            try object.encode(id, CodingKeys.id.rawValue)
            try object.encodeIfPresent(serviceId, CodingKeys.serviceId.rawValue)
            try object.encode(createdTime, CodingKeys.createdTime.rawValue)
            return
        }
        var container = encoder.container(keyedBy: CodingKeys.self)
        if timeout != Self.noTimeout { try container.encode(timeout, forKey: .timeout) }
        if messageDeadline != Self.noTimeout { try container.encode(messageDeadline, forKey: .messageDeadline) }
        try container.encodeIfPresent(systemTags, forKey: .systemTags)
        try container.encodeIfPresent(userTags, forKey: .userTags)
        try container.encode(headers, forKey: .headers)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(serviceId, forKey: .serviceId)
        try container.encode(createdTime, forKey: .createdTime)
    }
}

extension MessageBase {
    /// Best-effort recovery from an inner object that failed strict decoding, given as its members' raw text: every
    /// base field with the right type is kept, the others take their Java defaults. Used only to address an error
    /// reply to the sender, so nothing but the base fields is decoded (and tags only when small: a hostile body's
    /// bulk is never turned into a tree on the refusal path).
    init(lenient members: [(key: String, value: Range<Int>)], in body: Data) {
        var ranges: [String: Range<Int>] = [:]
        for (key, range) in members { ranges[key] = range }
        let value = { (key: String, bound: Int) -> JSONValue? in
            guard let range = ranges[key], range.count <= bound else { return nil }
            return try? JSONValue(parsing: JSONScanner.slice(body, range))
        }
        let headers = ranges["headers"].flatMap { try? JSONScanner.members(ofObjectIn: body, range: $0) }
        self.init(
            id: value("id", .max)?.stringValue ?? MessageID.random(),
            serviceId: value("serviceId", .max)?.stringValue,
            createdTime: value("createdTime", 64)?.int64Value ?? EpochMillis.now(),
            timeout: value("timeout", 64)?.int64Value ?? Self.noTimeout,
            messageDeadline: value("messageDeadline", 64)?.int64Value ?? Self.noTimeout,
            headers: headers.map { MessageHeaders(lenient: $0, in: body) } ?? MessageHeaders(),
            systemTags: value("systemTags", 64 * 1024)?.arrayValue?.compactMap(\.stringValue),
            userTags: value("userTags", 64 * 1024)?.arrayValue?.compactMap(\.stringValue)
        )
    }
}
