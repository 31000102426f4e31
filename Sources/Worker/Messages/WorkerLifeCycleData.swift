import CloudBus

/// The fleet's own lifecycle event, `/cloudbus-worker/lifecycle`: a worker joined (at start) or left (on a graceful
/// stop, or declared by the one survivor that won the store's conditional update).
///
/// Never ZStack's `/managementnode/lifecycle`: an unmodified Java management node adds every node it hears of there
/// to its own ring and would route its services to a worker. The store decides membership; this event only tells the
/// other workers to look now instead of at their next heartbeat.
public struct WorkerLifeCycleData: CanonicalEventContent, Hashable {
    public static let path = "/cloudbus-worker/lifecycle"
    public static let className = "cloudbus.worker.WorkerLifeCycleData"

    public enum LifeCycle: String, Codable, Hashable, Sendable {
        case nodeJoin = "NodeJoin"
        case nodeLeft = "NodeLeft"
    }

    public var nodeUuid: String
    public var lifeCycle: LifeCycle
    public var services: [String]

    public init(nodeUuid: String, lifeCycle: LifeCycle, services: [String]) {
        self.nodeUuid = nodeUuid
        self.lifeCycle = lifeCycle
        self.services = services
    }

    public var nestedSchema: [String: String] { [:] }

    /// The data of `event`, nil when the event is on another path.
    public init?(_ event: CanonicalEvent) throws {
        guard event.path == Self.path else { return nil }
        self = try event.content(as: WorkerLifeCycleData.self)
    }
}
