/// A message, reply or event that travels on the bus as `{"<className>": {fields}}`.
///
/// Conforming types carry only their own fields; the shared base fields (`id`, `headers`, `timeout`, …) live in
/// `MessageBase` and are read from and written to the same inner object by `EnvelopeCodec`. A conforming type must
/// not declare a field named like a `MessageBase` field.
public protocol BusMessage: Codable, Sendable {
    /// The Java fully-qualified class name ZStack uses as the envelope key (nested classes use `$`).
    static var className: String { get }
}

/// A reply: `MessageReply` in Java, with `success`, `canceled` and `error` next to the reply's own fields.
///
/// Java initialises `success` to true, so a reply that omits it reads as a success: `ReplyFactory` therefore always
/// writes it, and forces it to false whenever `error` is set.
public protocol BusReply: BusMessage {
    var success: Bool { get set }
    var canceled: Bool { get set }
    var error: ErrorCode? { get set }
}
