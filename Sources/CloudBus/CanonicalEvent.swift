import Foundation
import Primitives

/// `org.zstack.core.cloudbus.CanonicalEvent`: ZStack's path-addressed event (`EventFacade.fire(path, data)`),
/// broadcast on `BROADCAST` with the single routing key `key.event.LOCAL.canonicalEvent` for every path;
/// subscribers filter on `path`.
///
/// `content` is declared `Object` in Java, so a sender must name its class in `headers.schema["content"]` (Java
/// otherwise rebuilds a map); `envelope(content:…)` does that. Content that is a plain string (e.g.
/// `/resource/unlock`) has no schema entry.
public struct CanonicalEvent: BusMessage, Hashable {
    public static let className = "org.zstack.core.cloudbus.CanonicalEvent"
    /// The event type key, also the routing key on `BROADCAST`.
    public static let routingKey = "key.event.LOCAL.canonicalEvent"

    public var path: String
    public var content: JSONValue?
    /// The node that fired the event; receivers ignore their own events.
    public var managementNodeId: String?
    /// `{"_name": "key.event.LOCAL.canonicalEvent"}` as Java's `LocalEvent` serialises its type.
    public var type: EventType?

    public init(path: String, content: JSONValue?, managementNodeId: String?, type: EventType? = .canonicalEvent) {
        self.path = path
        self.content = content
        self.managementNodeId = managementNodeId
        self.type = type
    }

    /// `content` decoded as `C`.
    /// - Throws: `DecodingError` when the content is absent or does not match `C`.
    public func content<C: Decodable>(as type: C.Type) throws -> C {
        try JSONDecoder().decode(C.self, from: (content ?? .null).jsonData())
    }

    /// An event envelope ready to publish, with `headers.schema` naming `contentClass` at `content` plus
    /// `nestedSchema` (paths relative to `content`, e.g. `inventory`), an empty `task-context`, no `serviceId`.
    public static func envelope(
        path: String,
        content: JSONValue?,
        contentClass: String?,
        nestedSchema: [String: String] = [:],
        managementNodeId: String,
        now: Int64 = EpochMillis.now(),
        id: String = MessageID.random()
    ) -> Envelope<CanonicalEvent> {
        var schema: [String: String] = [:]
        if let contentClass, content != nil, content != .null {
            schema["content"] = contentClass
            for (nestedPath, className) in nestedSchema { schema["content.\(nestedPath)"] = className }
        }
        let headers = MessageHeaders(schema: schema, taskContext: .emptyObject)
        let event = CanonicalEvent(path: path, content: content, managementNodeId: managementNodeId)
        return Envelope(message: event, base: MessageBase(id: id, createdTime: now, headers: headers))
    }

    /// An event envelope for typed content: path, content class and nested schema entries come from `C`.
    /// - Throws: `EncodingError` only if the content holds a non-finite floating-point number.
    public static func envelope<C: CanonicalEventContent>(
        content: C,
        managementNodeId: String,
        now: Int64 = EpochMillis.now(),
        id: String = MessageID.random()
    ) throws -> Envelope<CanonicalEvent> {
        let value = try JSONValue(parsing: JSONEncoder().encode(content))
        return envelope(
            path: C.path, content: value, contentClass: C.className, nestedSchema: content.nestedSchema,
            managementNodeId: managementNodeId, now: now, id: id)
    }
}

/// The `type` field of a Java `Event`: `{"_name": "key.event.<category>.<subCategory>"}`.
public struct EventType: Codable, Hashable, Sendable {
    public var name: String

    public init(name: String) { self.name = name }

    public static let canonicalEvent = EventType(name: CanonicalEvent.routingKey)

    enum CodingKeys: String, CodingKey { case name = "_name" }
}

/// Typed content of a canonical event: the path it is fired on and the Java class to name in `headers.schema`.
public protocol CanonicalEventContent: Codable, Sendable {
    static var path: String { get }
    static var className: String { get }
    /// Schema entries for non-null nested ZStack objects, relative to `content` (e.g. `["inventory": "…"]`).
    var nestedSchema: [String: String] { get }
}
