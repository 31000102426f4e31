import CloudBus

// Field-for-field copies of `KVMMessages.PingHostMsg` and `PingHostReply`. `KVMMessages` is not a library product of
// cloudbus-worker, and a package that depends on it by path can only use products. Same class names, same fields,
// same property wrappers, so the codec walks the same shape; replace these with `import KVMMessages` once that
// product exists (see README.md).

/// Mirror of `org.zstack.header.host.PingHostMsg`.
struct PingHostMsg: BusMessage, Hashable {
    static let className = "org.zstack.header.host.PingHostMsg"

    var hostUuid: String
}

/// Mirror of `org.zstack.header.host.PingHostReply`. `currentHostStatus` is a plain string here: the real
/// `HostStatus` is a string-backed value encoded as a single string, so the JSON and the work are the same.
struct PingHostReply: BusReply, Hashable {
    static let className = "org.zstack.header.host.PingHostReply"

    @DefaultFalse var connected: Bool
    var currentHostStatus: String?
    @DefaultFalse var noReconnect: Bool
    @DefaultTrue var success: Bool
    @DefaultFalse var canceled: Bool
    var error: ErrorCode?

    init(connected: Bool, currentHostStatus: String?) {
        self.connected = connected
        self.currentHostStatus = currentHostStatus
        self.noReconnect = false
        self.success = true
        self.canceled = false
        self.error = nil
    }
}
