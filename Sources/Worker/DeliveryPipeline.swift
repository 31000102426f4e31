import AMQP
import CloudBus
import CloudBusAMQP
import Foundation
import KeyedExecution
import Logging

/// One delivery's life: decode → check → route to its key's serial executor → handle → publish
/// every output and wait for the confirms → ack. Anything that cannot be processed gets an error
/// reply when the sender waits for one, a dead-letter copy with the reason, an ack and a counter;
/// the worker keeps serving. An output that cannot be confirmed gives the delivery back to its
/// queue (nack with requeue), so the broker redelivers it (the ledger makes that harmless).
final class DeliveryPipeline: Sendable {
    struct Settings: Sendable {
        var maxBodyBytes: Int
        /// Bound for handlers of messages without a deadline, so no key waits forever. Default: 10 min.
        var defaultHandlerTimeout: Duration = .seconds(600)
    }

    private let connection: AMQPConnection
    private let publisher: BusPublisher
    private let handlers: HandlerTable
    private let registry: MessageRegistry
    private let executor: KeyedSerialExecutor<String>
    private let ledger: DeliveryLedger
    private let deadLetters: DeadLetterSink
    private let metrics: WorkerMetrics
    private let settings: Settings
    private let logger: Logger

    init(connection: AMQPConnection, publisher: BusPublisher, handlers: HandlerTable,
         executor: KeyedSerialExecutor<String>, ledger: DeliveryLedger, deadLetters: DeadLetterSink,
         metrics: WorkerMetrics, settings: Settings, logger: Logger) {
        self.connection = connection
        self.publisher = publisher
        self.handlers = handlers
        self.registry = handlers.registry
        self.executor = executor
        self.ledger = ledger
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.settings = settings
        self.logger = logger
    }

    /// Takes one delivery. Returns once it is queued on its key (or finished, for rejects), so the
    /// consumer loop never waits for a handler.
    func accept(_ delivery: Delivery) async {
        metrics.increment(WorkerCounter.received)
        let envelope: DecodedEnvelope
        do {
            envelope = try EnvelopeCodec.decode(delivery.body, registry: registry, maxBodyBytes: settings.maxBodyBytes)
        } catch {
            await refuse(delivery, reason: error.kind, detail: error.reason, base: error.recoveredBase,
                         className: error.className, replyError: error.replyError)
            return
        }
        let base = envelope.base
        guard let entry = handlers.entry(for: envelope.className) else {
            // Registered for decoding but served by nobody (e.g. a reply class sent to a service queue).
            await refuse(delivery, reason: "unknown-class", detail: "no handler for \(envelope.className)", base: base,
                         className: envelope.className,
                         replyError: SysError.unknownMessage.error("No service deals with message: \(envelope.className)"))
            return
        }
        if entry.expectsReply && base.headers.replyTo == nil && !base.headers.isNoReply {
            await refuse(delivery, reason: "missing-reply-to",
                         detail: "\(envelope.className) expects a reply but carries no headers.replyTo",
                         base: base, className: envelope.className, replyError: nil)
            return
        }
        switch ledger.admit(id: base.id, tag: delivery.tag) {
        case .alreadyHandled:
            metrics.increment(WorkerCounter.duplicates)
            connection.ack(delivery.tag)
            return
        case .parked:
            metrics.increment(WorkerCounter.duplicates)
            return
        case .first:
            break
        }
        let now = EpochMillis.now()
        let messageDeadline = MessageDeadline(base)
        if let messageDeadline, messageDeadline.hasExpired(now: now) {
            metrics.increment(WorkerCounter.expired)
            await refuse(delivery, reason: "expired",
                         detail: "deadline \(messageDeadline.epochMillis) passed before handling (now \(now))",
                         base: base, className: envelope.className,
                         replyError: SysError.timeout(className: envelope.className, id: base.id, timeoutMillis: base.timeout))
            for parked in ledger.finish(id: base.id) { connection.ack(parked) }
            return
        }
        let remaining = messageDeadline?.remaining(now: now)
        let timeout = min(remaining ?? settings.defaultHandlerTimeout, settings.defaultHandlerTimeout)
        let context = HandlerContext(base: base, deadline: .now + timeout, redelivered: delivery.redelivered)
        let key = entry.resourceKey(envelope.message)
        let claim = AnswerClaim()
        let message = envelope.message
        let className = envelope.className
        await executor.submit(key: key, timeout: timeout, { [self] in
            await run(entry, message: message, className: className, context: context, delivery: delivery, claim: claim)
        }, completion: { [self] outcome in
            switch outcome {
            case .finished, .threw:
                break
            case .deadlineExceeded, .expiredBeforeStart:
                guard claim.claim() else { return }
                Task { await self.answerTimeout(delivery, base: base, className: className, outcome: outcome) }
            case .rejected:
                // Shutting down: give it back to the queue for another worker or our restart.
                for parked in ledger.abandon(id: base.id) { connection.nack(parked, requeue: true) }
                connection.nack(delivery.tag, requeue: true)
            }
        })
    }

    // MARK: Handling

    private func run(_ entry: HandlerTable.Entry, message: any BusMessage, className: String, context: HandlerContext,
                     delivery: Delivery, claim: AnswerClaim) async {
        let base = context.base
        let output: HandlerOutput
        do {
            output = try await entry.handle(message, context)
        } catch is CancellationError {
            return // the deadline path answers
        } catch let bad as BadRequest {
            guard claim.claim() else { return }
            await refuse(delivery, reason: "bad-request", detail: bad.reason, base: base, className: className,
                         replyError: bad.error)
            for parked in ledger.finish(id: base.id) { connection.ack(parked) }
            return
        } catch {
            metrics.increment(WorkerCounter.handlerErrors)
            logger.error("handler failed", metadata: [
                "msg.id": "\(base.id)", "msg.class": "\(className)", "error": "\(error)",
            ])
            let code = (error as? any ErrorCodeConvertible)?.errorCode ?? SysError.operationError.error("\(error)")
            output = HandlerOutput(reply: MessageReply(error: code))
        }
        guard claim.claim() else { return }
        do {
            try await publish(output, answering: base, persistent: delivery.properties.deliveryMode == 2)
            metrics.increment(WorkerCounter.handled, entry.handledCounter)
            connection.ack(delivery.tag)
            for parked in ledger.finish(id: base.id) { connection.ack(parked) }
        } catch {
            // Not confirmed: give the delivery back for redelivery. On a lost connection the broker requeues it by
            // itself (the nack's stale tag is dropped); on a live channel (the broker nacked a publish, e.g. a
            // queue went down mid-routing) only this nack does: an unacked delivery would stay stuck until the
            // connection closes, holding a prefetch slot.
            metrics.increment(WorkerCounter.publishFailures)
            logger.warning("outputs not confirmed; returning the message for redelivery", metadata: [
                "msg.id": "\(base.id)", "msg.class": "\(className)", "error": "\(error)",
            ])
            for parked in ledger.abandon(id: base.id) { connection.nack(parked, requeue: true) }
            connection.nack(delivery.tag, requeue: true)
        }
    }

    private func publish(_ output: HandlerOutput, answering base: MessageBase, persistent: Bool) async throws {
        for message in output.messages {
            switch message.target {
            case .service(let serviceId): try await publisher.send(body: message.body, to: serviceId)
            case .event(let routingKey): try await publisher.publishEvent(body: message.body, routingKey: routingKey)
            }
            metrics.increment(WorkerCounter.outbound)
        }
        if let reply = output.reply, ReplyFactory.needsReply(base) {
            try await send(reply, to: base, persistent: persistent)
        }
    }

    /// A persistent request gets a persistent reply: as durable as what asked for it.
    private func send<R: BusReply>(_ reply: R, to base: MessageBase, persistent: Bool = false) async throws {
        guard let envelope = ReplyFactory.reply(reply, to: base), let replyTo = base.headers.replyTo else { return }
        let outcome = try await publisher.publishReply(body: try envelope.encoded(), replyTo: replyTo, persistent: persistent)
        metrics.increment(WorkerCounter.replies)
        if case .returned(let code, let text) = outcome {
            // The requester's inbox is gone: nobody is waiting any more. Nothing to retry.
            metrics.increment(WorkerCounter.returnedReplies)
            logger.notice("reply unroutable; requester gone", metadata: [
                "msg.id": "\(base.id)", "replyTo": "\(replyTo)", "code": "\(code)", "text": "\(text)",
            ])
        }
    }

    // MARK: Refusals

    private func answerTimeout(_ delivery: Delivery, base: MessageBase, className: String, outcome: JobOutcome) async {
        let started = outcome.bodyStarted
        metrics.increment(started ? WorkerCounter.deadlineExceeded : WorkerCounter.expired)
        await refuse(delivery, reason: started ? "deadline-exceeded" : "expired",
                     detail: started ? "handler still running at the message deadline; cancelled"
                                     : "deadline passed while queued behind its key",
                     base: base, className: className,
                     replyError: SysError.timeout(className: className, id: base.id, timeoutMillis: base.timeout))
        for parked in ledger.finish(id: base.id) { connection.ack(parked) }
    }

    /// Error reply (when one is expected and possible) + dead-letter copy + ack. When the copy
    /// cannot be confirmed the delivery stays unacked, so the broker keeps it.
    private func refuse(_ delivery: Delivery, reason: String, detail: String, base: MessageBase?, className: String?,
                        replyError: ErrorCode?) async {
        do {
            try await deadLetters.store(delivery, reason: reason, detail: detail, className: className, messageId: base?.id)
            if let base, let replyError, ReplyFactory.needsReply(base) {
                try await send(MessageReply(error: replyError), to: base, persistent: delivery.properties.deliveryMode == 2)
            }
            connection.ack(delivery.tag)
        } catch {
            // As for a handler's outputs: give it back (a stale tag after a lost connection is dropped).
            metrics.increment(WorkerCounter.publishFailures)
            logger.warning("could not dead-letter; returning the message for redelivery", metadata: ["error": "\(error)"])
            connection.nack(delivery.tag, requeue: true)
        }
    }
}
