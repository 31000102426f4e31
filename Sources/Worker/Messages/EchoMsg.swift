import CloudBus

/// `cloudbus.worker.EchoMsg`: **ours, not ZStack's** (no Java class has this name, so a Java node cannot decode
/// it). A liveness probe and benchmark load for the worker itself: any service queue of the worker answers it with
/// an `EchoReply` carrying the same `payload`, without touching agents or the store.
public struct EchoMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.EchoMsg"

    public var payload: String?

    public init(payload: String? = nil) {
        self.payload = payload
    }
}
