import AMQP
import CloudBus
import CloudBusAMQP
import Logging

/// Keeps a copy of every message the worker refused, with the reason, in one durable queue
/// (`cloudbus.worker.dead-letters`), so nothing is lost silently and an operator can replay it.
/// Headers: `x-cbw-reason` (machine kind, e.g. `malformed-json`), `x-cbw-detail` (human text),
/// `x-cbw-queue`, `x-cbw-routing-key`, `x-cbw-class`, `x-cbw-message-id`, `x-cbw-node`.
struct DeadLetterSink: Sendable {
    let connection: AMQPConnection
    let node: NodeUUID
    let metrics: WorkerMetrics
    let logger: Logger

    func store(_ delivery: Delivery, reason: String, detail: String, className: String?, messageId: String?) async throws(AMQPError) {
        var headers: AMQPTable = [
            "x-cbw-reason": .string(reason),
            "x-cbw-detail": .string(String(detail.prefix(4096))),
            "x-cbw-queue": .string(delivery.queue),
            "x-cbw-routing-key": .string(delivery.routingKey),
            "x-cbw-node": .string(node.rawValue),
        ]
        if let className { headers["x-cbw-class"] = .string(className) }
        if let messageId { headers["x-cbw-message-id"] = .string(messageId) }
        logger.warning("dead-lettered a message", metadata: [
            "reason": "\(reason)", "detail": "\(detail)", "queue": "\(delivery.queue)",
            "msg.class": "\(className ?? "-")", "msg.id": "\(messageId ?? "-")",
        ])
        metrics.increment(WorkerCounter.deadLettered)
        metrics.increment(WorkerCounter.deadLettered(reason))
        try await connection.publish(OutgoingMessage(
            exchange: "", routingKey: BusTopology.deadLetterQueue, body: delivery.body,
            properties: AMQPProperties(deliveryMode: 2, headers: headers), mandatory: true))
    }
}
