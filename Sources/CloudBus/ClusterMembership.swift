import Synchronization

/// Which worker owns a resource, as every worker of the fleet computes it: ZStack's hash ring over the live workers.
/// This worker is always a member; the others come from configuration (`ringNodes`, a seed) and, with a shared store,
/// from the store's live members (`FleetMembership` replaces the set at every heartbeat).
///
/// Used to address messages the worker sends on (a tracer verdict goes to the `vmInstance` service of the VM's
/// owner, a device-info sync to the `host` service of the host's owner). Thread-safe; lookups take a lock for a
/// binary search.
public final class ClusterMembership: Sendable {
    public let selfNode: NodeUUID
    private let ring: Mutex<ConsistentHashRing>

    public init(selfNode: NodeUUID, otherNodes: some Sequence<NodeUUID> = [NodeUUID]()) {
        self.selfNode = selfNode
        var ring = ConsistentHashRing(nodes: [selfNode.rawValue])
        for node in otherNodes { ring.add(node.rawValue) }
        self.ring = Mutex(ring)
    }

    public var members: Set<String> { ring.withLock { $0.members } }

    public func nodeJoined(_ node: NodeUUID) { ring.withLock { $0.add(node.rawValue) } }

    /// Removes `node` from the ring; this worker itself is never removed.
    public func nodeLeft(_ node: NodeUUID) {
        guard node != selfNode else { return }
        ring.withLock { $0.remove(node.rawValue) }
    }

    /// Makes the ring exactly `nodes` plus this worker. Returns whether anything changed.
    @discardableResult
    public func replaceMembers(with nodes: Set<String>) -> Bool {
        let wanted = nodes.union([selfNode.rawValue])
        return ring.withLock { ring in
            let current = ring.members
            guard current != wanted else { return false }
            for node in current.subtracting(wanted) { ring.remove(node) }
            for node in wanted.subtracting(current) { ring.add(node) }
            return true
        }
    }

    /// The node owning `resourceUuid` (this worker when it is alone).
    public func owner(of resourceUuid: String) -> NodeUUID {
        let owner = ring.withLock { $0.owner(of: resourceUuid) }
        return owner.flatMap(NodeUUID.init(rawValue:)) ?? selfNode
    }

    /// The service id to send a message about `resourceUuid` to, e.g. `vmInstance.<owner>`.
    public func serviceID(_ service: String, for resourceUuid: String) -> ServiceID {
        ServiceID(service: service, node: owner(of: resourceUuid))
    }
}
