import CloudBus
import Foundation

/// Turns the tracer's verdicts and events into bus messages: state changes to `vmInstance.<owner>` (the owner of
/// the VM on the hash ring), fire-and-forget (`noReply`), and canonical events broadcast under
/// `CanonicalEvent.routingKey`, fired as this worker's node.
public struct VmTracerOutbox: Sendable {
    public let membership: ClusterMembership

    public init(membership: ClusterMembership) {
        self.membership = membership
    }

    /// A ``VmStateChangedOnHostMsg`` addressed to the VM's owner, without reply (ZStack's tracer sends without a
    /// callback).
    /// - Throws: `EncodingError` only for a non-finite number, which these messages never hold.
    public func stateChange(_ message: VmStateChangedOnHostMsg, now: Int64 = EpochMillis.now()) throws -> OutboundMessage {
        let service = membership.serviceID(ServiceID.vmInstanceService, for: message.vmInstanceUuid)
        return try Self.request(message, to: service, now: now)
    }

    /// A canonical event fired by this worker's node.
    public func event<C: CanonicalEventContent>(_ content: C, now: Int64 = EpochMillis.now()) throws -> OutboundMessage {
        let envelope = try CanonicalEvent.envelope(
            content: content, managementNodeId: membership.selfNode.rawValue, now: now)
        return OutboundMessage(target: .event(routingKey: CanonicalEvent.routingKey), body: try envelope.encoded())
    }

    /// A fire-and-forget request to `service` (`noReply` "true", so a receiver that otherwise expects a reply
    /// address accepts it), with an optional `timeout`.
    static func request<M: BusMessage>(
        _ message: M, to service: ServiceID, timeout: Duration? = nil, now: Int64 = EpochMillis.now()
    ) throws -> OutboundMessage {
        let id = MessageID.random()
        let millis = timeout.map { Int64($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) }
        let base = MessageBase(
            id: id, serviceId: service.rawValue, createdTime: now, timeout: millis ?? MessageBase.noTimeout,
            headers: MessageHeaders(correlationId: id, noReply: "true"))
        return OutboundMessage(target: .service(service.rawValue), body: try EnvelopeCodec.encode(message, base: base))
    }
}
