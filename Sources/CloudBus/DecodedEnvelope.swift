/// An envelope whose class was found in the registry and whose fields all decoded.
public struct DecodedEnvelope: Sendable {
    /// The envelope key (Java class name), equal to `type(of: message).className`.
    public let className: String
    public let base: MessageBase
    /// The registered type's value; use `typed(as:)` or a cast to reach its fields.
    public let message: any BusMessage
    /// The class's position in the registry that decoded it (``MessageRegistry/position(of:)``): what per-class
    /// tables built from that registry are indexed by.
    public let classPosition: Int

    public init(className: String, base: MessageBase, message: any BusMessage, classPosition: Int) {
        self.className = className
        self.base = base
        self.message = message
        self.classPosition = classPosition
    }

    func withHeaders(_ headers: MessageHeaders) -> DecodedEnvelope {
        var base = base
        base.headers = headers
        return DecodedEnvelope(className: className, base: base, message: message, classPosition: classPosition)
    }

    /// The envelope as `Envelope<M>`, or nil when the message is not an `M`.
    public func typed<M: BusMessage>(as type: M.Type = M.self) -> Envelope<M>? {
        guard let message = message as? M else { return nil }
        return Envelope(message: message, base: base)
    }
}
