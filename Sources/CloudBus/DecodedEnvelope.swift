/// An envelope whose class was found in the registry and whose fields all decoded.
public struct DecodedEnvelope: Sendable {
    /// The envelope key (Java class name), equal to `type(of: message).className`.
    public let className: String
    public let base: MessageBase
    /// The registered type's value; use `typed(as:)` or a cast to reach its fields.
    public let message: any BusMessage

    public init(className: String, base: MessageBase, message: any BusMessage) {
        self.className = className
        self.base = base
        self.message = message
    }

    func withHeaders(_ headers: MessageHeaders) -> DecodedEnvelope {
        var base = base
        base.headers = headers
        return DecodedEnvelope(className: className, base: base, message: message)
    }

    /// The envelope as `Envelope<M>`, or nil when the message is not an `M`.
    public func typed<M: BusMessage>(as type: M.Type = M.self) -> Envelope<M>? {
        guard let message = message as? M else { return nil }
        return Envelope(message: message, base: base)
    }
}
