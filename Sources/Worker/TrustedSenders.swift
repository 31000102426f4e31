import CloudBus

/// The management nodes whose settings changes and lifecycle events this worker obeys (`trustedSenders`).
///
/// Empty, the default, trusts every sender, as ZStack does (a Java management node checks nothing either). Named,
/// it keeps a stray or misconfigured client on the bus from turning the tracer off, shortening the orphan TTL or
/// pulling nodes in and out of the hash ring. This is a guard against mistakes, not authentication: a sender's node
/// id is what it writes on its messages. Who may talk to the broker at all is decided by the broker's users, vhosts
/// and TLS.
struct TrustedSenders: Sendable {
    let nodes: Set<String>

    /// Event paths whose effect is guarded: the lifecycle that drives the ring and the skip registry's orphans, and
    /// ZStack's global-config updates.
    static func isGuarded(path: String) -> Bool {
        path == ManagementNodeLifeCycleData.path || path.hasPrefix(GlobalConfigSubscriber.pathPrefix)
    }

    /// Whether a message from `node` (nil: the sender is unknown) is obeyed.
    func admits(_ node: String?) -> Bool {
        nodes.isEmpty || node.map(nodes.contains) ?? false
    }

    /// The node a request's reply inbox belongs to (`zstack.message.cloudbus.<node>`): who sent it.
    static func sender(of base: MessageBase) -> String? {
        guard let replyTo = base.headers.replyTo, replyTo.hasPrefix(BusNames.messageQueuePrefix) else { return nil }
        return ServiceID(parsing: String(replyTo.dropFirst(BusNames.messageQueuePrefix.count)))?.node.rawValue
    }
}
