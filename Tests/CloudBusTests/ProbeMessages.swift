import CloudBus

/// A message of the tests' own (no Java class, no worker handler) with one optional field: the codec's behaviour on
/// a request that is not ZStack's, without depending on the worker's `ProbeMsg`.
struct ProbeMsg: BusMessage, Hashable {
    static let className = "cloudbus.test.ProbeMsg"

    var payload: String?
}

/// The reply to ``ProbeMsg``.
struct ProbeReply: BusReply, Hashable {
    static let className = "cloudbus.test.ProbeReply"

    var payload: String?
    @DefaultTrue var success: Bool
    @DefaultFalse var canceled: Bool
    var error: ErrorCode?

    init(payload: String?, error: ErrorCode? = nil) {
        self.payload = payload
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
