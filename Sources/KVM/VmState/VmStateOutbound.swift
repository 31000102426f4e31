import CloudBus
import Foundation
import Inventory

/// How the VM state code puts its messages on the bus: canonical events on `BROADCAST` and fire-and-forget
/// requests to another node's service. Pure functions; safe from any task.
public enum VmStateOutbound {
    /// A canonical event fired by node `managementNodeId`, as ZStack's `EventFacade.fire` sends it.
    /// - Throws: `EncodingError` only for a non-finite number in the content (never for the VM contents).
    public static func event<C: CanonicalEventContent>(
        _ content: C, managementNodeId: String, now: Int64 = EpochMillis.now()
    ) throws -> OutboundMessage {
        let envelope = try CanonicalEvent.envelope(content: content, managementNodeId: managementNodeId, now: now)
        return OutboundMessage(
            target: .event(routingKey: CanonicalEvent.routingKey), body: try envelope.encoded())
    }

    /// A request that wants no answer (ZStack's `bus.send(msg)` without a callback): `headers.noReply` is "true",
    /// there is no `replyTo`, and `correlationId` is the message id (for tracing). Sent to `service`.
    public static func fireAndForget<M: BusMessage>(
        _ message: M, to service: ServiceID, now: Int64 = EpochMillis.now(), id: String = MessageID.random()
    ) throws -> OutboundMessage {
        let headers = MessageHeaders(correlationId: id, noReply: "true", schema: [:], taskContext: [:])
        let base = MessageBase(id: id, serviceId: service.rawValue, createdTime: now, headers: headers)
        return OutboundMessage(
            target: .service(service.rawValue), body: try EnvelopeCodec.encode(message, base: base))
    }

    /// The VM as ZStack's `VmInstanceInventory` JSON, restricted to the fields this worker keeps (`uuid`, `state`,
    /// `hostUuid`, `lastHostUuid`, `type`, `clusterUuid`); absent fields are omitted, as Gson omits nulls.
    public static func inventory(of vm: VmRecord) -> JSONValue {
        var fields: [String: JSONValue] = [
            "uuid": .string(vm.uuid), "state": .string(vm.state.rawValue), "type": .string(vm.type.rawValue),
        ]
        if let hostUuid = vm.hostUuid { fields["hostUuid"] = .string(hostUuid) }
        if let lastHostUuid = vm.lastHostUuid { fields["lastHostUuid"] = .string(lastHostUuid) }
        if let clusterUuid = vm.clusterUuid { fields["clusterUuid"] = .string(clusterUuid) }
        return .object(fields)
    }
}
