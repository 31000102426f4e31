/// A per-node service id of the AMQP bus, `<service>.<nodeUuid>` (e.g. `host.9b1d387e11bd3ab0a673c655eb4c8f66`),
/// and the names derived from it.
///
/// The service's queue is `zstack.message.<serviceId>`, bound to `P2P` with that same name as routing key, and a
/// request to the service is published to `P2P` with that routing key. Services that are not per node (e.g.
/// `api.portal`) are plain strings and use `BusNames.messageQueue(serviceId:)`.
public struct ServiceID: Hashable, Sendable, CustomStringConvertible {
    public let service: String
    public let node: NodeUUID

    public init(service: String, node: NodeUUID) {
        self.service = service
        self.node = node
    }

    /// Parses `<service>.<nodeUuid>`: splits at the last dot; nil when the part after it is not a node uuid or the
    /// service part is empty.
    public init?(parsing rawValue: String) {
        guard let dot = rawValue.lastIndex(of: "."),
            let node = NodeUUID(String(rawValue[rawValue.index(after: dot)...]))
        else { return nil }
        let service = String(rawValue[..<dot])
        guard !service.isEmpty else { return nil }
        self.init(service: service, node: node)
    }

    /// `<service>.<nodeUuid>`, the value of a request's `serviceId` field.
    public var rawValue: String { "\(service).\(node.rawValue)" }

    /// `zstack.message.<service>.<nodeUuid>`: the queue name, its binding key on `P2P`, and the routing key of
    /// requests to this service.
    public var queueName: String { BusNames.messageQueue(serviceId: rawValue) }

    public var description: String { rawValue }

    /// The reply inbox service of `node` (`cloudbus.<node>`); its `queueName`,
    /// `zstack.message.cloudbus.<node>`, is what requests from that node carry in `headers.replyTo`.
    public static func replyInbox(of node: NodeUUID) -> ServiceID {
        ServiceID(service: BusNames.replyInboxService, node: node)
    }

    /// ZStack service names this worker serves (`HostConstant.SERVICE_ID` and friends).
    public static let hostService = "host"
    public static let vmInstanceService = "vmInstance"
    public static let primaryStorageService = "storage.primary"
}
