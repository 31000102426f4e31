import CloudBus
import Foundation
import KVMMessages

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
        return try .oneWay(message, to: service, now: now)
    }

    /// A canonical event fired by this worker's node.
    public func event<C: CanonicalEventContent>(_ content: C, now: Int64 = EpochMillis.now()) throws -> OutboundMessage {
        try .event(content, from: membership.selfNode, now: now)
    }
}
