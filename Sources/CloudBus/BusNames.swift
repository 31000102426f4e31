/// Exchange, queue and routing-key names of ZStack's AMQP bus (`CloudBusImpl2`), in one place so topology code
/// and tests spell them exactly as a Java management node does.
public enum BusNames {
    /// Topic exchange for requests and replies; declared durable with `alternate-exchange = NO_ROUTE`.
    public static let p2pExchange = "P2P"
    /// Topic exchange for events (routing key = event type, e.g. `key.event.LOCAL.canonicalEvent`).
    public static let broadcastExchange = "BROADCAST"
    /// Fanout exchange receiving unroutable P2P messages and dead letters.
    public static let noRouteExchange = "NO_ROUTE"

    /// Prefix of every service queue name and request routing key.
    public static let messageQueuePrefix = "zstack.message."
    /// Prefix of event queue names.
    public static let eventQueuePrefix = "zstack.event."
    /// Service name of each node's reply inbox (`zstack.message.cloudbus.<node>`).
    public static let replyInboxService = "cloudbus"
    /// The single queue, shared by all nodes, bound to `NO_ROUTE`.
    public static let noRouteQueue = "zstack.message.NoRouteEndPoint"
    /// Routing key dead letters are re-published with (`x-dead-letter-routing-key`).
    public static let deadLetterRoutingKey = "dead-message"
    /// Default per-message TTL on requests and events, as the AMQP `expiration` property string (300 s).
    public static let messageExpiration = "300000"

    /// `zstack.message.<serviceId>` for any service id, per node or not (e.g. `api.portal`).
    public static func messageQueue(serviceId: String) -> String {
        messageQueuePrefix + serviceId
    }

    /// `zstack.event.<name>`.
    public static func eventQueue(name: String) -> String {
        eventQueuePrefix + name
    }
}
