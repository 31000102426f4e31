import CloudBus
import Logging

/// Canonical events from `BROADCAST`. Management-node lifecycle events are keyed by the node they
/// are about, so join and leave of one node are seen in order; membership itself (the hash ring
/// following NodeJoin/NodeLeft, orphaned skip entries) comes with later issues — for now they are
/// logged and counted. Other paths are accepted and ignored.
struct CanonicalEventHandler: BusHandler {
    let node: NodeUUID
    let metrics: WorkerMetrics
    let logger: Logger

    var expectsReply: Bool { false }

    func resourceKey(for message: CanonicalEvent) -> String {
        if message.path == ManagementNodeLifeCycleData.path,
           let nodeUuid = message.content?["nodeUuid"]?.stringValue {
            return "node:\(nodeUuid)"
        }
        return "event:\(message.path)"
    }

    func handle(_ message: CanonicalEvent, context: HandlerContext) async throws -> HandlerOutput {
        metrics.increment(WorkerCounter.events)
        guard message.managementNodeId != node.rawValue else { return HandlerOutput() }
        if message.path == ManagementNodeLifeCycleData.path, let data = try? ManagementNodeLifeCycleData(message) {
            logger.info("management node lifecycle", metadata: [
                "node": "\(data.nodeUuid)", "lifeCycle": "\(data.lifeCycle.rawValue)",
            ])
        }
        return HandlerOutput()
    }
}
