import CloudBus

/// `cloudbus.worker.EchoReply`: **ours, not ZStack's**; the answer to `EchoMsg`, echoing its `payload`.
public struct EchoReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.EchoReply"

    public var payload: String?
    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    public init(payload: String?, error: ErrorCode? = nil) {
        self.payload = payload
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
