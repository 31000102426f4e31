/// `org.zstack.header.message.MessageReply`: the reply with no fields of its own, which ZStack sends (and this
/// worker sends) for errors on messages whose specific reply type is unknown or irrelevant.
public struct MessageReply: BusReply, Hashable {
    public static let className = "org.zstack.header.message.MessageReply"

    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    /// A reply carrying `error`, or a plain success when `error` is nil.
    public init(error: ErrorCode? = nil, canceled: Bool = false) {
        self.success = error == nil
        self.canceled = canceled
        self.error = error
    }
}
