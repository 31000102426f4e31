import AMQP
import CloudBus
import CloudBusAMQP
import Foundation
import Logging
import Synchronization

/// Keeps a copy of every message the worker refused, with the reason, in one durable queue
/// (`cloudbus.worker.dead-letters`), so nothing is lost silently and an operator can replay it. Copies go through the
/// dead-letter exchange (fanout, where the broker's own dead letters go too), so a queue an operator binds there (an
/// alert, an archive) gets every one as well. Published `mandatory`: a copy the broker returns because the shared
/// queue is gone declares it again (as a restart would; at most once a minute, since a declaration the broker refuses
/// restarts the publishing connection) and goes once more; returned again, it fails the refusal.
/// Headers: `x-cbw-reason` (machine kind, e.g. `malformed-json`), `x-cbw-detail` (human text),
/// `x-cbw-queue`, `x-cbw-routing-key`, `x-cbw-class`, `x-cbw-message-id`, `x-cbw-node`; for a body over the size limit,
/// which is never read whole, the copy holds its first 4 KiB and `x-cbw-announced-size` the size its header announced.
struct DeadLetterSink: Sendable {
    let connection: AMQPConnection
    let node: NodeUUID
    /// The type the shared queue is declared with when it has to be declared again.
    let queueKind: WorkerQueueOptions.Kind
    let metrics: WorkerMetrics
    let logger: Logger
    private let redeclaration = RedeclarationGate(interval: .seconds(60))

    init(connection: AMQPConnection, node: NodeUUID, queueKind: WorkerQueueOptions.Kind, metrics: WorkerMetrics,
         logger: Logger) {
        self.connection = connection
        self.node = node
        self.queueKind = queueKind
        self.metrics = metrics
        self.logger = logger
    }

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
        let copy = OutgoingMessage(exchange: BusTopology.deadLetterExchange, routingKey: "", body: body,
                                   properties: AMQPProperties(deliveryMode: 2, headers: headers), mandatory: true)
        if case .returned(let code, let text) = try await connection.publish(copy) {
            guard redeclaration.mayDeclare(now: .now) else { throw Unroutable(replyCode: code, replyText: text) }
            logger.warning("a dead-letter copy had no queue to go to; declaring the shared queue again", metadata: [
                "queue": "\(BusTopology.deadLetterQueue)", "reply": "\(code) \(text)",
            ])
            try await connection.declare(BusTopology.deadLetters(kind: queueKind))
            if case .returned(let code, let text) = try await connection.publish(copy) {
                throw Unroutable(replyCode: code, replyText: text)
            }
        }
        // Logged and counted once the broker confirmed the copy on a queue, as the metric's help says: a copy that
        // failed is tried again with its delivery's redelivery (its caller logs the failure), and counting attempts
        // counted it twice.
        logger.warning("dead-lettered a message", metadata: logMetadata.merging([
            "reason": "\(reason)", "detail": "\(detail.prefix(512))",
        ]) { $1 })
        metrics.deadLettered(reason: reason)
    }

    /// Lets the shared queue be declared again at most once per `interval`: a queue deleted by mistake comes back at
    /// the first returned copy, while one the broker will not declare (replaced with other arguments) costs a
    /// restart of the publishing connection once per interval, not once per refusal.
    private final class RedeclarationGate: Sendable {
        private let interval: Duration
        private let last = Mutex<ContinuousClock.Instant?>(nil)

        init(interval: Duration) { self.interval = interval }

        func mayDeclare(now: ContinuousClock.Instant) -> Bool {
            last.withLock { last in
                if let previous = last, previous.duration(to: now) < interval { return false }
                last = now
                return true
            }
        }
    }

    /// The broker returned a copy and declaring the shared queue again did not help: returned once more after the
    /// declaration (a queue of that name not bound to the exchange), or the queue was declared again less than a
    /// minute ago. The refused message is given back rather than acked with its copy nowhere.
    struct Unroutable: Error, CustomStringConvertible {
        let replyCode: UInt16
        let replyText: String
        var description: String {
            "no queue is bound to \(BusTopology.deadLetterExchange) (\(replyCode) \(replyText)): the copy was returned"
        }
    }
}
