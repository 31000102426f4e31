/// `cloudbus.worker.EchoReply`: **ours, not ZStack's**; the answer to `EchoMsg`, echoing its `payload`.
public struct EchoReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.EchoReply"

    public var payload: String?
    public var success: Bool
    public var canceled: Bool
    public var error: ErrorCode?

    public init(payload: String?, error: ErrorCode? = nil) {
        self.payload = payload
        self.success = error == nil
        self.canceled = false
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case payload, success, canceled, error }

    /// Absent `success`/`canceled` take MessageReply's Java initialisers (true/false).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        payload = try container.decodeIfPresent(String.self, forKey: .payload)
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        canceled = try container.decodeIfPresent(Bool.self, forKey: .canceled) ?? false
        error = try container.decodeIfPresent(ErrorCode.self, forKey: .error)
    }
}
