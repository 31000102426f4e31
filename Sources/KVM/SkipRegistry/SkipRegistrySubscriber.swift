import CloudBus
import KVMMessages
import Logging

/// Feeds the ``SkipRegistry`` from the bus: `/vmTracer/skipTrace`, `/vmTrace/continueTrace` and
/// `/managementnode/lifecycle`, all under the one executor key ``executorKey``, so the registry sees them in the
/// order the broker delivered them (a NodeLeft is never applied before the skip-trace that preceded it).
///
/// Bad content throws ``SkipTraceEventError`` (the worker logs and counts it); nothing here crashes. The worker
/// never delivers its own events: operations of this worker must call the registry directly.
public struct SkipRegistrySubscriber: CanonicalEventSubscriber {
    public static let executorKey = "vm-skip-registry"

    public let registry: SkipRegistry
    let logger: Logger

    public init(registry: SkipRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    public var paths: Set<String> {
        [VmSkipTraceData.path, VmContinueTraceData.path, ManagementNodeLifeCycleData.path]
    }

    public func resourceKey(for event: CanonicalEvent) -> String { Self.executorKey }

    public func handle(_ event: CanonicalEvent, context: HandlerContext) async throws -> [OutboundMessage] {
        switch event.path {
        case VmSkipTraceData.path:
            let data = try decode(VmSkipTraceData.self, from: event)
            try require(data.vmUuid, "vmUuid", in: event)
            try require(data.managementNodeId, "managementNodeId", in: event)
            let outcome = await registry.recordSkip(data)
            logger.debug("skip-trace", metadata: [
                "vm": "\(data.vmUuid)", "node": "\(data.managementNodeId)", "outcome": "\(outcome)",
            ])
        case VmContinueTraceData.path:
            let data = try decode(VmContinueTraceData.self, from: event)
            try require(data.managementNodeId, "managementNodeId", in: event)
            if (data.vmUuid ?? "").isEmpty && (data.apiId ?? "").isEmpty {
                throw SkipTraceEventError.missingField(
                    path: event.path, field: "vmUuid and apiId", sender: event.managementNodeId)
            }
            let outcome = await registry.recordContinue(data)
            if outcome.vmUuid == nil {
                logger.info("continue-trace for an unknown API id", metadata: [
                    "api.id": "\(data.apiId ?? "")", "node": "\(data.managementNodeId)",
                ])
            }
        case ManagementNodeLifeCycleData.path:
            let data = try decode(ManagementNodeLifeCycleData.self, from: event)
            try require(data.nodeUuid, "nodeUuid", in: event)
            switch data.lifeCycle {
            case .nodeLeft: await registry.nodeLeft(data.nodeUuid)
            case .nodeJoin: await registry.nodeJoined(data.nodeUuid)
            }
        default:
            throw SkipTraceEventError.unexpectedPath(event.path)
        }
        return []
    }

    private func decode<C: CanonicalEventContent>(_ type: C.Type, from event: CanonicalEvent) throws -> C {
        do {
            return try event.content(as: C.self)
        } catch {
            throw SkipTraceEventError.undecodable(
                path: event.path, sender: event.managementNodeId, reason: String(describing: error))
        }
    }

    private func require(_ value: String, _ field: String, in event: CanonicalEvent) throws {
        guard !value.isEmpty else {
            throw SkipTraceEventError.missingField(path: event.path, field: field, sender: event.managementNodeId)
        }
    }
}
