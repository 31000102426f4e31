import AMQP
import CloudBus

/// Where a request for a resource this worker does not own goes, in a fleet: the owner's queue of the same service,
/// by the ring of live workers. A hop count in the AMQP headers bounds how often one message may be passed on.
struct Forwarding: Sendable {
    static let hopsHeader = "x-cbw-hops"

    let membership: ClusterMembership
    /// This worker's service queues → their service (`zstack.message.storage.primary.<node>` → `storage.primary`).
    let services: [String: String]
    /// Forwards one message may take before it is refused `forward-loop`.
    let hopLimit: Int

    init(membership: ClusterMembership, services: [String], hopLimit: Int = 3) {
        self.membership = membership
        self.services = Dictionary(uniqueKeysWithValues: services.map {
            (ServiceID(service: $0, node: membership.selfNode).queueName, $0)
        })
        self.hopLimit = hopLimit
    }

    /// The owner's service for a request about `resource` that arrived on `queue`, or nil when this worker owns it
    /// (or the queue is not one of its service queues).
    func target(for resource: String, arrivedOn queue: String) -> ServiceID? {
        let owner = membership.owner(of: resource)
        guard owner != membership.selfNode, let service = services[queue] else { return nil }
        return ServiceID(service: service, node: owner)
    }

    /// How often `delivery` was forwarded already (0 when never; a malformed header counts as the limit).
    static func hops(of delivery: Delivery) -> Int {
        switch delivery.properties.headers[hopsHeader] {
        case nil: 0
        case .int64(let value)?: Int(clamping: value)
        case .int32(let value)?: Int(value)
        default: Int.max
        }
    }
}
