import AMQP
import CloudBus
import CloudBusAMQP
import Foundation
import Logging

/// Keeps a copy of every message the worker refused, with the reason, in one durable queue
/// (`cloudbus.worker.dead-letters`), so nothing is lost silently and an operator can replay it. Copies go through the
/// dead-letter exchange (fanout, where the broker's own dead letters go too), so a queue an operator binds there (an
/// alert, an archive) gets every one as well; published `mandatory`, a copy no queue takes fails the refusal's ack.
/// Headers: `x-cbw-reason` (machine kind, e.g. `malformed-json`), `x-cbw-detail` (human text),
/// `x-cbw-queue`, `x-cbw-routing-key`, `x-cbw-class`, `x-cbw-message-id`, `x-cbw-node`; for a body over the size limit,
/// which is never read whole, the copy holds its first 4 KiB and `x-cbw-announced-size` the size its header announced.
struct DeadLetterSink: Sendable {
    let connection: AMQPConnection
    let node: NodeUUID
    let metrics: WorkerMetrics
    let logger: Logger

    /// A copy of a delivery the worker refused. Header values are bounded (a hostile id or detail is cut).
    func store(_ delivery: Delivery, reason: String, detail: String, className: String?, messageId: String?) async throws {
        let className = className.map { String($0.prefix(256)) }, messageId = messageId.map { String($0.prefix(128)) }
        try await publish(delivery.body, reason: reason, detail: detail, headers: [
            "x-cbw-queue": .string(delivery.queue),
            "x-cbw-routing-key": .string(delivery.routingKey),
            "x-cbw-class": className.map { .string($0) },
            "x-cbw-message-id": messageId.map { .string($0) },
            "x-cbw-announced-size": delivery.isTruncated ? .int64(Int64(delivery.announcedBodySize)) : nil,
        ], logMetadata: ["queue": "\(delivery.queue)", "msg.class": "\(className ?? "-")", "msg.id": "\(messageId ?? "-")"])
    }

    /// A copy of a message a handler sent that no queue took (`basic.return`): where it was going and which
    /// delivery caused it (`x-cbw-caused-by`).
    func storeOutput(_ body: Data, target: OutboundMessage.Target, reason: String, detail: String,
                     causedBy messageId: String) async throws {
        let destination = switch target {
        case .service(let serviceId): "service \(serviceId)"
        case .event(let routingKey): "event \(routingKey)"
        }
        try await publish(Array(body), reason: reason, detail: detail, headers: [
            "x-cbw-target": .string(destination),
            "x-cbw-caused-by": .string(messageId),
        ], logMetadata: ["target": "\(destination)", "caused.by": "\(messageId)"])
    }

    private func publish(_ body: [UInt8], reason: String, detail: String, headers extra: [String: AMQPFieldValue?],
                         logMetadata: Logger.Metadata) async throws {
        var headers: AMQPTable = [
            "x-cbw-reason": .string(reason),
            "x-cbw-detail": .string(String(detail.prefix(4096))),
            "x-cbw-node": .string(node.rawValue),
        ]
        for (key, value) in extra { if let value { headers[key] = value } }
        logger.warning("dead-lettered a message", metadata: logMetadata.merging([
            "reason": "\(reason)", "detail": "\(detail.prefix(512))",
        ]) { $1 })
        metrics.deadLettered(reason: reason)
        let outcome = try await connection.publish(OutgoingMessage(
            exchange: BusTopology.deadLetterExchange, routingKey: "", body: body,
            properties: AMQPProperties(deliveryMode: 2, headers: headers), mandatory: true))
        if case .returned(let code, let text) = outcome { throw Unroutable(replyCode: code, replyText: text) }
    }

    /// The broker returned a copy: no queue is bound to the dead-letter exchange (someone deleted the queue or its
    /// binding). The refused message is given back rather than acked with its copy nowhere.
    struct Unroutable: Error, CustomStringConvertible {
        let replyCode: UInt16
        let replyText: String
        var description: String {
            "no queue is bound to \(BusTopology.deadLetterExchange) (\(replyCode) \(replyText)): the copy was returned"
        }
    }
}
