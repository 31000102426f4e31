import AMQP
import CloudBus
import Foundation
import Primitives

/// Puts envelopes on the bus the way ZStack routes them and waits for the broker's confirm.
///
/// Requests go to `P2P` with routing key `zstack.message.<serviceId>`; replies go to `P2P` with the raw
/// `headers.replyTo`; events go to `BROADCAST` by type key. Everything is `mandatory`, as in ZStack, and the outcome
/// says whether the broker returned it. Expiry: ZStack's `CloudBus.messageTTL` (5 min) on requests and events unless
/// the caller says otherwise (the worker's own requests expire with their timeout or never); none on replies.
public struct BusPublisher: Sendable {
    public let connection: AMQPConnection
    /// Delivery mode for everything published: ZStack sends transient (1); the reliable mode
    /// sends persistent (2) so requests survive a broker restart on durable queues.
    public var persistent: Bool

    public init(connection: AMQPConnection, persistent: Bool = false) {
        self.connection = connection
        self.persistent = persistent
    }

    /// Publishes an already encoded reply body to the requester's inbox. `persistent` overrides the
    /// publisher's mode: the worker answers a persistent request with a persistent reply, so a reply is as
    /// durable as the request that asked for it. Replies carry no expiration, as in ZStack.
    @discardableResult
    /// `headers` go in the AMQP properties (ZStack's `compressed` marker, for one).
    public func publishReply(body: Data, replyTo: String, persistent: Bool? = nil, headers: AMQPTable = [:])
        async throws(AMQPError) -> PublishOutcome
    {
        try await publish(Array(body), exchange: BusNames.p2pExchange, routingKey: replyTo, expiry: .never,
                          persistent: persistent, headers: headers)
    }

    /// ``publishReply(body:replyTo:persistent:headers:)`` for a body already in bytes (the worker's replies). The
    /// reply is the last thing its handling awaits — only bookkeeping follows its confirm — so its confirm may be read
    /// late (``OutgoingMessage/confirmMayWait``).
    @discardableResult
    public func publishReply(bytes: [UInt8], replyTo: String, persistent: Bool? = nil, headers: AMQPTable = [:])
        async throws(AMQPError) -> PublishOutcome
    {
        try await publish(bytes, exchange: BusNames.p2pExchange, routingKey: replyTo, expiry: .never,
                          persistent: persistent, headers: headers, confirmMayWait: true)
    }

    /// When the broker may drop a request or event nobody consumed.
    public enum Expiry: Sendable, Equatable {
        /// ZStack's `CloudBus.messageTTL`: 5 minutes.
        case busDefault
        case after(Duration)
        case never
    }

    /// Sends an envelope to a service (`<service>.<node>`).
    @discardableResult
    public func send(body: Data, to serviceId: String, expiry: Expiry = .busDefault) async throws(AMQPError)
        -> PublishOutcome
    {
        try await publish(Array(body), exchange: BusNames.p2pExchange,
                          routingKey: BusNames.messageQueue(serviceId: serviceId), expiry: expiry)
    }

    /// Sends an envelope straight to a queue by name (the CLI's `--queue`).
    @discardableResult
    public func send(body: Data, toQueue queue: String) async throws(AMQPError) -> PublishOutcome {
        try await publish(Array(body), exchange: BusNames.p2pExchange, routingKey: queue)
    }

    /// Passes a received message on to another queue through `P2P`, body and properties as given (a fleet worker
    /// forwarding a request to the resource's owner): mandatory and confirmed.
    @discardableResult
    public func forward(body: [UInt8], properties: AMQPProperties, toQueue queue: String) async throws(AMQPError)
        -> PublishOutcome
    {
        try await connection.publish(OutgoingMessage(
            exchange: BusNames.p2pExchange, routingKey: queue, body: body, properties: properties, mandatory: true))
    }

    /// Broadcasts a canonical event.
    @discardableResult
    public func publishEvent(body: Data, routingKey: String = CanonicalEvent.routingKey) async throws(AMQPError) -> PublishOutcome {
        try await publish(Array(body), exchange: BusNames.broadcastExchange, routingKey: routingKey)
    }

    /// Publishes an output where its target says: a service's queue, expiring with the message's own expiration
    /// (none: it waits as long as the queue keeps it), or the event exchange. The one switch over targets, shared by
    /// the delivery pipeline's outputs and the worker's own announcements.
    public func publish(_ message: OutboundMessage) async throws(AMQPError) -> PublishOutcome {
        switch message.target {
        case .service(let serviceId):
            try await send(body: message.body, to: serviceId, expiry: message.expiration.map(Expiry.after) ?? .never)
        case .event(let routingKey):
            try await publishEvent(body: message.body, routingKey: routingKey)
        }
    }

    /// The one way onto the bus: mandatory, confirmed, expiring as asked.
    private func publish(_ body: [UInt8], exchange: String, routingKey: String, expiry: Expiry = .busDefault,
                         persistent: Bool? = nil, headers: AMQPTable = [:], confirmMayWait: Bool = false)
        async throws(AMQPError) -> PublishOutcome
    {
        let expiration: String? = switch expiry {
        case .busDefault: BusNames.messageExpiration
        case .after(let duration): String(max(1, duration.inMilliseconds))
        case .never: nil
        }
        let properties = AMQPProperties(deliveryMode: (persistent ?? self.persistent) ? 2 : 1, expiration: expiration,
                                        headers: headers)
        return try await connection.publish(OutgoingMessage(
            exchange: exchange, routingKey: routingKey, body: body, properties: properties, mandatory: true,
            confirmMayWait: confirmMayWait))
    }
}
