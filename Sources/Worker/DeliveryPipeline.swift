import Metrics
import CoreMetrics
import AMQP
import BodyCompression
import CloudBus
import CloudBusAMQP
import Foundation
import Inventory
import KVM
import KeyedExecution
import Logging
import Primitives
import Synchronization

/// One delivery's life: decode → check → route to its key's serial executor → handle → publish
/// every output and wait for the confirms → ack. Anything that cannot be processed gets an error
/// reply when the sender waits for one, a dead-letter copy with the reason, an ack and a counter;
/// the worker keeps serving. An output that cannot be confirmed gives the delivery back to its
/// queue (nack with requeue), so the broker redelivers it (the ledger makes that harmless).
final class DeliveryPipeline: AnswerSettler {
    struct Settings: Sendable {
        var maxBodyBytes: Int
        /// Bound for handlers of messages without a deadline, so no key waits forever. Default: 10 min.
        var defaultHandlerTimeout: Duration = .seconds(600)
        /// Requests that may wait behind one key before more are refused (`key-backlog-full`). Nil: no bound.
        var keyBacklog: Int?
        /// How long a delivery whose outputs the broker refused is held before it is given back: RabbitMQ requeues at
        /// once, so without the pause a target that keeps refusing (a full queue with `reject-publish`, a queue
        /// going away) would turn into a hot loop of redeliveries. The delivery keeps its prefetch slot meanwhile;
        /// other keys are not held. Default: 1 s.
        var publishFailureBackoff: Duration = .seconds(1)
        /// Returns of one message, unsettled, after which it is refused as poison before any handler sees it: the
        /// broker's `x-delivery-count` on quorum queues, the store's count of `redelivered` deliveries on classic
        /// ones. Nil: not counted.
        var deliveryLimit: Int?
        /// The pipeline runs on the consuming connection's thread (not `handlersOnPool`): handlers that are not
        /// ``BusHandler/isLightweight`` then hop to `handlerExecutors` (or the cooperative pool) for their body, and
        /// back.
        var onConnectionThread = false
        /// Where those bodies run instead of the pool: the agent client's event loops, a key always on the same one
        /// (see `EventLoopTaskExecutor`). Empty: the pool.
        var handlerExecutors: [any TaskExecutor] = []
    }

    private let connection: AMQPConnection
    private let publisher: BusPublisher
    private let handlers: HandlerTable
    private let registry: MessageRegistry
    private let executor: KeyedSerialExecutor<String>
    private let ledger: DeliveryLedger
    private let journal: AnswerJournal?
    /// The answered-message window's bodies and the outbox (nil: neither is persisted).
    private let store: (any WorkerStore)?
    /// Set in a fleet (shared store): requests for resources another worker owns go to it.
    private let forwarding: Forwarding?
    /// Executor keys with outbox rows that may not have been published (a lost confirm, or rows found at start):
    /// each is flushed, on its own key, before that key's next message runs.
    private let dirtyKeys = Mutex<Set<String>>([])
    /// How many keys `dirtyKeys` holds, kept under its lock: while it is zero (nearly always) a message's key is not
    /// hashed and the lock not taken. A key is marked on its own executor or before a job is queued on it, so the
    /// key's next job, which runs after, reads the count the mark left.
    private let dirtyKeyCount = Atomic<Int>(0)
    /// Deliveries this worker returned on purpose: not counted against the delivery limit.
    private let deliberateReturns = DeliberateReturns()
    private let deadLetters: DeadLetterSink
    private let metrics: WorkerMetrics
    /// Handler and series of each class by its position in `registry` (``DecodedEnvelope/classPosition``), made
    /// before the first delivery: the delivery path indexes these (no lock, no label rendering, no class name hashed
    /// per message).
    private let classes: [RegisteredClass]
    private let settings: Settings
    private let logger: Logger

    init(connection: AMQPConnection, publisher: BusPublisher, handlers: HandlerTable,
         executor: KeyedSerialExecutor<String>, ledger: DeliveryLedger, journal: AnswerJournal?,
         store: (any WorkerStore)?, forwarding: Forwarding? = nil, deadLetters: DeadLetterSink,
         metrics: WorkerMetrics, settings: Settings, logger: Logger) {
        self.forwarding = forwarding
        self.connection = connection
        self.publisher = publisher
        self.handlers = handlers
        self.registry = handlers.registry
        self.executor = executor
        self.ledger = ledger
        self.journal = journal
        self.store = store
        self.deadLetters = deadLetters
        self.metrics = metrics
        let registry = registry
        self.classes = (0..<registry.count).map { position in
            let className = registry.className(at: position)
            return RegisteredClass(entry: handlers.entry(for: className), series: metrics.series(for: className))
        }
        self.settings = settings
        self.logger = logger
    }

    /// Takes one delivery. Returns once it is queued on its key — or, for refusals and duplicates, once their
    /// settling has started on a task of its own — so the consumer loop never waits for a handler or a confirm. The
    /// prefetch bounds how many such tasks exist at once (each holds an unacked delivery).
    func accept(_ delivery: Delivery) async {
        switch route(delivery) {
        case nil:
            return
        case .forward(let job)?:
            await executor.submit(key: job.key, timeout: settings.defaultHandlerTimeout, job.body,
                                  completion: job.completion)
        case .admit(let envelope, let entry, let mode, let received)?:
            await admit(delivery, envelope: envelope, entry: entry, mode: mode, received: received)
        }
    }

    /// ``accept(_:)`` without a suspension, on the consuming connection's thread as the delivery is read
    /// (``DeliveryStream/acceptDirectly(_:)``): the same steps in the same order, for a delivery that needs no await.
    /// Returns false, having done nothing, for one that may: a redelivery whose earlier returns the store counts
    /// (`deliveryLimit`), or any delivery when a submit can wait for queue space. Saves the consumer task's wake-up
    /// per delivery (its continuation, cancellation record, task switches and frames).
    func acceptDirectly(_ delivery: Delivery) -> Bool {
        guard executor.submitsWithoutWaiting, settings.deliveryLimit == nil || !delivery.redelivered else {
            return false
        }
        switch route(delivery) {
        case nil:
            break
        case .forward(let job)?:
            executor.submitWithoutWaiting(key: HashedKey(job.key), timeout: settings.defaultHandlerTimeout, job.body,
                                          completion: job.completion)
        case .admit(let envelope, let entry, let mode, let received)?:
            guard let admitted = admission(delivery, envelope: envelope, entry: entry, mode: mode) else { break }
            guard let (timeout, job) = admittedJob(delivery, envelope: envelope, entry: entry, mode: mode,
                                                   received: received, hashedKey: admitted) else { break }
            executor.submitWithoutWaiting(key: admitted, timeout: timeout, { await job.run() },
                                          completion: { job.complete($0) })
        }
        return true
    }

    /// Where a decoded, checked delivery goes next.
    private enum Route {
        /// Another worker owns its resource: forwarded on the resource's key, in arrival order.
        case forward(ForwardJob)
        /// This worker serves it: dedupe, coalescing, backlog and deadline checks, then its key's executor.
        case admit(envelope: DecodedEnvelope, entry: HandlerTable.Entry, mode: ReplyMode, received: MonotonicInstant)
    }

    /// A forward as its key's executor runs it.
    private struct ForwardJob {
        let key: String
        let body: @Sendable () async throws -> Void
        let completion: @Sendable (JobOutcome) -> Void
    }

    /// Decodes and checks a delivery (size, compression, envelope, class, id, reply address, forwarding); nil when it
    /// was refused (its settling started on a task of its own).
    private func route(_ delivery: Delivery) -> Route? {
        let received = MonotonicInstant.now
        metrics.received.increment()
        let mode = ReplyMode(delivery)
        if delivery.isTruncated {
            // Refused from its content header: the body was never assembled, so no reply address can be read.
            let error = EnvelopeError.bodyTooLarge(size: delivery.announcedBodySize, limit: settings.maxBodyBytes)
            refuseAside(delivery, reason: error.kind, detail: "\(error.reason) (announced by the content header; "
                        + "the copy holds the first \(delivery.body.count) bytes)",
                        base: nil, className: nil, replyError: nil)
            return nil
        }
        var body = delivery.body
        if mode.compressed {
            do {
                // The size limit applies to the inflated bytes, as they are produced.
                body = try Zlib.inflate(delivery.body, limit: settings.maxBodyBytes)
            } catch {
                let reason = if case .tooLarge = error { "decompression-bomb" } else { "malformed-compressed-body" }
                refuseAside(delivery, reason: reason, detail: "compressed body \(error)", base: nil, className: nil,
                            replyError: nil)
                return nil
            }
        }
        let envelope: DecodedEnvelope
        do {
            envelope = try EnvelopeCodec.decode(body, registry: registry, maxBodyBytes: settings.maxBodyBytes)
        } catch {
            refuseAside(delivery, reason: error.kind, detail: error.reason, base: error.recoveredBase,
                        className: error.className, replyError: error.replyError)
            return nil
        }
        let base = envelope.base
        guard let entry = classes[envelope.classPosition].entry else {
            // Registered for decoding but served by nobody (e.g. a reply class sent to a service queue).
            refuseAside(
                delivery, reason: "unknown-class", detail: "no handler for \(envelope.className)", base: base,
                className: envelope.className,
                replyError: SysError.unknownMessage.error("No service deals with message: \(envelope.className)"))
            return nil
        }
        guard ZStackUUID.isWellFormed(base.id) else {
            // Never admitted to the ledger: a hostile id (200 KB, say) is not kept.
            let detail = "message id[\(base.id.prefix(64))] \(ZStackUUID.rule)"
            refuseAside(delivery, reason: "invalid-message-id", detail: detail, base: base,
                        className: envelope.className, replyError: SysError.invalidArgument.error(detail))
            return nil
        }
        if entry.expectsReply && base.headers.replyTo == nil && !base.headers.isNoReply {
            refuseAside(delivery, reason: "missing-reply-to",
                        detail: "\(envelope.className) expects a reply but carries no headers.replyTo",
                        base: base, className: envelope.className, replyError: nil)
            return nil
        }
        if let forwarding, let resource = entry.ownedResource(envelope.message),
            let target = forwarding.target(for: resource, arrivedOn: delivery.queue)
        {
            let hops = Forwarding.hops(of: delivery)
            guard hops < forwarding.hopLimit else {
                // Rings that disagree for longer than a heartbeat, or a sender that keeps aiming at a stale owner:
                // the sender gets an answer instead of a message circling the fleet.
                record(.forwardLoop, envelope.className)
                let detail = "forwarded \(hops) times without reaching the owner of \(resource) "
                    + "(this worker's ring says \(target.node))"
                refuseAside(delivery, reason: "forward-loop", detail: detail, base: base, className: envelope.className,
                            replyError: SysError.operationError.error(detail))
                return nil
            }
            // On the key's executor, so the messages of one host or VM leave in the order they came (and after
            // any of its work still running here).
            let connection = connection, returns = deliberateReturns, id = base.id
            return .forward(ForwardJob(key: entry.resourceKey(envelope.message), body: { [self] in
                await forward(delivery, to: target, hops: hops + 1, envelope: envelope, entry: entry, mode: mode,
                              received: received)
            }, completion: { outcome in
                switch outcome {
                case .expiredBeforeStart, .rejected:
                    returns.note(id)
                    connection.nack(delivery.tag, requeue: true)
                case .finished, .threw, .deadlineExceeded: break
                }
            }))
        }
        return .admit(envelope: envelope, entry: entry, mode: mode, received: received)
    }

    /// Counts one request of a registered class.
    private func record(_ outcome: MessageOutcome, _ className: String) {
        series(className).count(outcome)
    }

    /// The class's series, made at start for every registered class (the fallback only for a class the registry
    /// does not know, which refusals never name: they pass a decoded class's name or none).
    private func series(_ className: String) -> ClassSeries {
        registry.position(of: className).map { classes[$0].series } ?? metrics.series(for: className)
    }

    /// Returns a delivery to its queue on purpose, remembered so that its redelivery is not taken for a crash.
    private func giveBack(_ tag: DeliveryTag, id: String?) {
        if let id { deliberateReturns.note(id) }
        connection.nack(tag, requeue: true)
    }

    /// How often this message came back before this delivery without this worker having returned it: the
    /// broker's count on quorum queues less this worker's deliberate returns, else the store's count of its
    /// redeliveries (this one included) unless this one was deliberate. Nil when nothing counts (no store, or it
    /// failed: the message is then handled, not refused).
    private func returns(of delivery: Delivery, id: String) async -> Int? {
        // Returns this worker made on purpose (a refused output during a broker alarm, a shutdown) are not crashes.
        if let count = Self.deliveryCount(of: delivery) { return max(0, count - deliberateReturns.given(id)) }
        if deliberateReturns.take(id) { return nil }
        guard let store else { return nil }
        do {
            return try await store.recordRedelivery(messageId: id)
        } catch {
            logger.warning("could not count a redelivery; handling the message", metadata: [
                "msg.id": "\(id)", "error": "\(error)",
            ])
            return nil
        }
    }

    /// How often the broker returned this message before (`x-delivery-count`, set by quorum queues on a
    /// redelivery), or nil.
    static func deliveryCount(of delivery: Delivery) -> Int? {
        switch delivery.properties.headers["x-delivery-count"] {
        case .int64(let value)?: Int(clamping: value)
        case .int32(let value)?: Int(value)
        default: nil
        }
    }

    /// Forwards a request for a resource another worker owns to that worker's queue, body and properties unchanged
    /// (its reply address, correlation id and deadline are in them) plus the hop count; the original is acked only
    /// once the broker confirmed the copy. A copy no queue takes (the owner has not declared its queues yet) is
    /// served here rather than lost; a publish that fails goes back to the queue after the usual pause.
    private func forward(_ delivery: Delivery, to target: ServiceID, hops: Int, envelope: DecodedEnvelope,
                         entry: HandlerTable.Entry, mode: ReplyMode, received: MonotonicInstant) async {
        var properties = delivery.properties
        properties.headers[Forwarding.hopsHeader] = .int64(Int64(hops))
        do {
            switch try await publisher.forward(body: delivery.body, properties: properties, toQueue: target.queueName) {
            case .confirmed:
                record(.forwarded, envelope.className)
                connection.ack(delivery.tag)
            case .returned:
                logger.notice("the owner's queue does not exist; serving the message here", metadata: [
                    "owner": "\(target.node)", "msg.id": "\(envelope.base.id)", "msg.class": "\(envelope.className)",
                ])
                await admit(delivery, envelope: envelope, entry: entry, mode: mode, received: received)
            }
        } catch {
            metrics.publishFailures.increment()
            record(.givenBack, envelope.className)
            logger.warning("could not forward a message to its owner; returning it for redelivery", metadata: [
                "owner": "\(target.node)", "msg.id": "\(envelope.base.id)", "error": "\(error)",
            ])
            try? await Task.sleep(for: settings.publishFailureBackoff)
            giveBack(delivery.tag, id: envelope.base.id)
        }
    }

    /// Admits a decoded, well-formed request this worker serves: dedupe, coalescing, backlog and deadline checks,
    /// then its key's executor.
    private func admit(_ delivery: Delivery, envelope: DecodedEnvelope, entry: HandlerTable.Entry, mode: ReplyMode,
                       received: MonotonicInstant) async {
        guard let hashedKey = admission(delivery, envelope: envelope, entry: entry, mode: mode) else { return }
        // Not answered, and back again: a message that crashed or stopped a worker each time is refused before it
        // can do so once more (the broker's quorum limit would drop it silently; a classic queue never would).
        let base = envelope.base
        if let limit = settings.deliveryLimit, delivery.redelivered, let count = await returns(of: delivery, id: base.id),
            count >= limit
        {
            record(.poison, envelope.className)
            let detail = "delivered \(count + 1) times without being settled (deliveryLimit \(limit)): "
                + "each delivery crashed or stopped a worker before it answered"
            let className = envelope.className
            Task {
                await refuseAdmitted(delivery, base: base, reason: "poison", detail: detail, className: className,
                                     replyError: SysError.operationError.error(detail))
            }
            return
        }
        guard let (timeout, job) = admittedJob(delivery, envelope: envelope, entry: entry, mode: mode,
                                               received: received, hashedKey: hashedKey) else { return }
        // Each closure captures the one object: no capture context to allocate per message.
        await executor.submit(key: hashedKey, timeout: timeout, { await job.run() }, completion: { job.complete($0) })
    }

    /// The dedupe window's verdict: the key (hashed once, for the depth checks and the submit) of a first sighting;
    /// nil for a copy, answered again or parked behind its original.
    private func admission(_ delivery: Delivery, envelope: DecodedEnvelope, entry: HandlerTable.Entry,
                           mode: ReplyMode) -> HashedKey<String>? {
        let base = envelope.base
        let copy = ParkedCopy(tag: delivery.tag, replyTo: ReplyFactory.needsReply(base) ? base.headers.replyTo : nil,
                              redelivered: delivery.redelivered, mode: mode)
        switch ledger.admit(id: base.id, copy: copy) {
        case .answered(let answer):
            record(.duplicate, envelope.className)
            Task { await answerAgain(copy, with: answer, messageId: base.id) }
            return nil
        case .parked:
            record(.duplicate, envelope.className)
            return nil
        case .first:
            return HashedKey(entry.resourceKey(envelope.message))
        }
    }

    /// Coalescing, the key's backlog and the message's deadline, then the job for the key's executor (with its
    /// timeout); nil when the message was settled here instead.
    private func admittedJob(_ delivery: Delivery, envelope: DecodedEnvelope, entry: HandlerTable.Entry,
                             mode: ReplyMode, received: MonotonicInstant, hashedKey: HashedKey<String>)
        -> (timeout: Duration, job: AdmittedDelivery)?
    {
        let base = envelope.base
        let key = hashedKey.key
        // A sync that would only wait behind another sync of the same key adds nothing: that one will see the state.
        if entry.coalescesWhileWaiting, !ReplyFactory.needsReply(base), executor.queueDepth(for: hashedKey) >= 1 {
            record(.coalesced, envelope.className)
            // Acked and forgotten: no journal write and no slot in the dedupe window for a message that did
            // nothing (a stalled agent makes hundreds a second); a redelivered copy would only sync once more.
            settle(delivery, id: base.id, .refusedForNow)
            return nil
        }
        // After the ledger, so a copy of a message already in flight is parked rather than refused.
        if let bound = settings.keyBacklog, entry.expectsReply, !base.headers.isNoReply,
            executor.queueDepth(for: hashedKey) >= bound
        {
            // A hung or slow key keeps at most `bound` prefetch slots; its sender gets an answer it can retry on —
            // and a retry with the same id is handled afresh: the refusal is not remembered as the answer.
            record(.keyBacklogFull, envelope.className)
            let detail = "\(bound) messages already wait behind key \(key); retry later"
            let className = envelope.className
            Task {
                await refuseAdmitted(delivery, base: base, reason: "key-backlog-full", detail: detail,
                                     className: className, replyError: SysError.operationError.error(detail),
                                     remember: false)
            }
            return nil
        }
        let now = EpochMillis.now()
        let messageDeadline = MessageDeadline(base)
        if let messageDeadline, messageDeadline.hasExpired(now: now) {
            record(.expired, envelope.className)
            let className = envelope.className
            Task {
                await refuseAdmitted(
                    delivery, base: base, reason: "expired",
                    detail: "deadline \(messageDeadline.epochMillis) passed before handling (now \(now))",
                    className: className,
                    replyError: SysError.timeout(className: className, id: base.id, timeoutMillis: base.timeout))
            }
            return nil
        }
        let remaining = messageDeadline?.remaining(now: now)
        let timeout = min(remaining ?? settings.defaultHandlerTimeout, settings.defaultHandlerTimeout)
        let admitted = AdmittedDelivery(
            pipeline: self, entry: entry, message: envelope.message, className: envelope.className,
            classPosition: envelope.classPosition, key: key,
            context: HandlerContext(base: base, monotonicDeadline: .now + timeout,
                                    redelivered: delivery.redelivered),
            delivery: delivery, mode: mode, received: received)
        return (timeout, admitted)
    }

    /// What the executor's completion does besides the handler's own answer: a deadline or a shutdown answers here.
    fileprivate func complete(_ admitted: AdmittedDelivery, _ outcome: JobOutcome) {
        switch outcome {
        case .finished, .threw:
            break
        case .deadlineExceeded, .expiredBeforeStart:
            guard admitted.claim() else { return }
            Task {
                await self.answerTimeout(admitted.delivery, base: admitted.context.base, className: admitted.className,
                                         outcome: outcome)
            }
        case .rejected:
            // Shutting down: give it back to the queue for another worker or our restart.
            settle(admitted.delivery, id: admitted.context.base.id, .giveBack())
        }
    }

    // MARK: Handling

    private func handlerExecutor(for key: String) -> any TaskExecutor {
        let executors = settings.handlerExecutors
        guard !executors.isEmpty else { return globalConcurrentExecutor }
        return executors[Int(UInt(bitPattern: key.hashValue) % UInt(executors.count))]
    }

    fileprivate func run(_ admitted: AdmittedDelivery) async {
        // The admitted delivery's fields are read where they are used, not copied into locals: each local copy of
        // the context or the delivery (kept in this async frame across every await) retained and released a
        // dozen strings per message.
        do {
            // What an earlier message of this key announced but never got confirmed goes first, in order.
            try await flushOutbox(key: admitted.key)
        } catch {
            guard admitted.claim() else { return }
            metrics.publishFailures.increment()
            record(.givenBack, admitted.className)
            logger.warning("pending outbox of the key not confirmed; returning the message for redelivery", metadata: [
                "msg.id": "\(admitted.context.base.id)", "key": "\(admitted.key)", "error": "\(error)",
            ])
            settle(admitted.delivery, id: admitted.context.base.id, .giveBack(after: settings.publishFailureBackoff))
            return
        }
        let output: HandlerOutput
        var outcome = MessageOutcome.handled
        do {
            if settings.onConnectionThread && !admitted.entry.isLightweight {
                // Off the connection's thread for the body only: decoding, admission, publishing and the ack stay
                // there; an agent call or a large response does not hold every other delivery behind it.
                output = try await withTaskExecutorPreference(handlerExecutor(for: admitted.key)) {
                    try await admitted.entry.handle(admitted.message, admitted.context)
                }
            } else {
                output = try await admitted.entry.handle(admitted.message, admitted.context)
            }
        } catch is CancellationError {
            return // the deadline path answers
        } catch let bad as BadRequest {
            guard admitted.claim() else { return }
            record(.badRequest, admitted.className)
            await refuseAdmitted(admitted.delivery, base: admitted.context.base, reason: "bad-request", detail: bad.reason,
                                 className: admitted.className, replyError: bad.error)
            return
        } catch {
            outcome = .handlerError
            logger.error("handler failed", metadata: [
                "msg.id": "\(admitted.context.base.id)", "msg.class": "\(admitted.className)", "error": "\(error)",
            ])
            let code = (error as? any ErrorCodeConvertible)?.errorCode ?? SysError.operationError.error("\(error)")
            output = HandlerOutput(reply: MessageReply(error: code))
        }
        guard admitted.claim() else {
            // The deadline answered first, but the handler had already written its state and outbox rows (or wrote
            // them after, ignoring cancellation): they must still go out, in the key's order.
            if output.writesOutbox { await flushLater(key: admitted.key) }
            return
        }
        do {
            let answer = try await publish(output, answering: admitted.context.base, mode: admitted.mode)
            settle(admitted.delivery, id: admitted.context.base.id, .done(answer, sentOutbox: output.messages.compactMap(\.outboxSeq)))
            let series = classes[admitted.classPosition].series
            series.count(outcome)
            series.duration.recordNanoseconds(admitted.received.nanoseconds(to: .now))
        } catch {
            // Rows the handler wrote stay in the outbox; the key's next message (this one, redelivered) sends them.
            if output.writesOutbox { markDirty(admitted.key) }
            // Not confirmed: give the delivery back for redelivery. On a lost connection the broker requeues it by
            // itself (the nack's stale tag is dropped); on a live channel (the broker nacked a publish, e.g. a
            // queue went down mid-routing) only this nack does: an unacked delivery would stay stuck until the
            // connection closes, holding a prefetch slot.
            metrics.publishFailures.increment()
            record(.givenBack, admitted.className)
            logger.warning("outputs not confirmed; returning the message for redelivery", metadata: [
                "msg.id": "\(admitted.context.base.id)", "msg.class": "\(admitted.className)", "error": "\(error)",
            ])
            settle(admitted.delivery, id: admitted.context.base.id, .giveBack(after: settings.publishFailureBackoff))
        }
    }

    /// Publishes the handler's messages, then its reply; returns the answer to remember for duplicates. An output
    /// no queue takes is dead-lettered (reason `unroutable-output`) rather than dropped.
    private func publish(_ output: HandlerOutput, answering base: MessageBase, mode: ReplyMode) async throws
        -> Answer
    {
        for message in output.messages { try await publishOutput(message, causedBy: base.id) }
        guard let reply = output.reply, ReplyFactory.needsReply(base) else { return .none }
        return try await send(reply, to: base, mode: mode)
    }

    /// Publishes one output and waits for its confirm; an output no queue takes is dead-lettered.
    private func publishOutput(_ message: OutboundMessage, causedBy cause: String) async throws {
        let outcome = try await publisher.publish(message)
        metrics.outputs.increment()
        if case .returned(let code, let text) = outcome {
            metrics.outputsUnroutable.increment()
            try await deadLetters.storeOutput(
                message.body, target: message.target, reason: "unroutable-output",
                detail: "no queue took it (\(code) \(text)); caused by \(cause)", causedBy: cause)
        }
    }

    // MARK: Outbox

    /// Publishes the key's pending outbox rows in order and removes them once confirmed; nothing to do unless the
    /// key is dirty. Runs on the key's executor, so no handler of the key writes rows meanwhile.
    private func flushOutbox(key: String) async throws {
        guard let outbox = store, dirtyKeyCount.load(ordering: .relaxed) > 0,
            dirtyKeys.withLock({ $0.contains(key) })
        else { return }
        let pending = try await outbox.pendingOutbox(key: key)
        for entry in pending {
            try await publishOutput(OutboundMessage(outbox: entry), causedBy: "outbox row \(entry.seq)")
        }
        try await outbox.removeOutbox(seqs: pending.map(\.seq))
        metrics.outboxRepublished.increment(by: pending.count)
        dirtyKeys.withLock { keys in
            if keys.remove(key) != nil { dirtyKeyCount.subtract(1, ordering: .relaxed) }
        }
    }

    /// The key's outbox may hold rows nobody published: its next message flushes them first.
    private func markDirty(_ key: String) {
        dirtyKeys.withLock { keys in
            if keys.insert(key).inserted { dirtyKeyCount.add(1, ordering: .relaxed) }
        }
    }

    /// Marks `key` dirty and queues a flush of its outbox rows on the key's executor, behind whatever the key
    /// already has — for rows nobody else would publish soon: those of a handler that lost its answer to the
    /// deadline, and those found at start. A failed flush leaves the key dirty for its next message.
    private func flushLater(key: String) async {
        markDirty(key)
        await executor.submit(key: key, timeout: settings.defaultHandlerTimeout, { [self] in
            do {
                try await flushOutbox(key: key)
            } catch {
                logger.warning("outbox not flushed", metadata: ["key": "\(key)", "error": "\(error)"])
            }
        }, completion: { _ in })
    }

    /// At start: every key with pending outbox rows (left by a crash, or by a lost confirm before a restart) is
    /// flushed on its own key — before any delivery of that key, since this runs before consuming starts.
    func sweepOutbox() async throws {
        guard let outbox = store else { return }
        let keys = try await outbox.pendingOutboxKeys()
        guard !keys.isEmpty else { return }
        logger.notice("publishing what the outbox still holds", metadata: ["keys": "\(keys.count)"])
        for key in keys { await flushLater(key: key) }
    }

    /// A persistent request gets a persistent reply: as durable as what asked for it. Returns what was sent.
    private func send(_ reply: any BusReply, to base: MessageBase, mode: ReplyMode) async throws -> Answer {
        guard let replyBase = ReplyFactory.replyBase(reply, to: base), let replyTo = base.headers.replyTo else {
            return .none
        }
        // The reply type's own specialised encoder (the requirement's witness), not the generic one.
        let body = try reply.envelopeBytes(base: replyBase)
        try await publishReply(body, to: replyTo, mode: mode, messageId: base.id)
        return Answer(reply: body)
    }

    /// Publishes a reply body (the cached answer keeps it uncompressed; it is deflated here when the request was).
    private func publishReply(_ body: [UInt8], to replyTo: String, mode: ReplyMode, messageId: String) async throws {
        let outcome = mode.compressed
            ? try await publisher.publishReply(bytes: Zlib.deflate(body), replyTo: replyTo,
                                               persistent: mode.persistent,
                                               headers: [ReplyMode.compressedHeader: .string("true")])
            : try await publisher.publishReply(bytes: body, replyTo: replyTo, persistent: mode.persistent)
        metrics.replies.increment()
        if case .returned(let code, let text) = outcome {
            // The requester's inbox is gone: nobody is waiting any more. Nothing to retry.
            metrics.repliesUnroutable.increment()
            logger.notice("reply unroutable; requester gone", metadata: [
                "msg.id": "\(messageId)", "replyTo": "\(replyTo)", "code": "\(code)", "text": "\(text)",
            ])
        }
    }

    // MARK: Settling

    /// How a delivery (and every copy parked behind it) ends.
    private enum Settlement {
        /// Acked; the id is remembered with this answer, and copies that want it get the same reply. `sentOutbox`:
        /// outbox rows whose messages were confirmed, removed with the answer.
        case done(Answer, sentOutbox: [Int64] = [])
        /// Nacked with requeue; the id is forgotten, so the broker's redelivery is handled afresh. `after`: the nack
        /// waits that long, on a task of its own (the key goes on), so that a refused publish is not retried in a
        /// hot loop.
        case giveBack(after: Duration? = nil)
        /// Acked (its refusal was sent, or it was coalesced into a waiting one) but the id is forgotten, copies
        /// included: a retry is handled afresh.
        case refusedForNow
    }

    /// The one place an admitted delivery ends: ack or nack, for it and for its parked copies, and the ledger
    /// updated to match. Returns at once: an answer is settled once the journal has written it (``answerWritten``).
    private func settle(_ delivery: Delivery, id: String, _ settlement: Settlement) {
        switch settlement {
        case .done(let answer, let sentOutbox):
            deliberateReturns.forget(id)
            guard let journal else {
                answerWritten(id: id, answer: answer, tag: delivery.tag)
                return
            }
            // On disk before the ack: once the broker forgets the message, a retry after a crash still finds it.
            journal.record(AnsweredMessage(id: id, reply: answer.reply, answeredAtEpochMillis: EpochMillis.now()),
                           removingOutbox: sentOutbox, settling: delivery.tag, answer: answer, by: self)
        case .giveBack(let delay):
            deliberateReturns.note(id)
            guard let delay else {
                connection.nack(delivery.tag, requeue: true)
                for copy in ledger.abandon(id: id) { connection.nack(copy.tag, requeue: true) }
                return
            }
            // Still in flight in the ledger meanwhile: a copy that arrives is parked and goes back with it.
            let connection = connection, ledger = ledger
            Task {
                try? await Task.sleep(for: delay)
                connection.nack(delivery.tag, requeue: true)
                for copy in ledger.abandon(id: id) { connection.nack(copy.tag, requeue: true) }
            }
        case .refusedForNow:
            deliberateReturns.forget(id)
            connection.ack(delivery.tag)
            for copy in ledger.abandon(id: id) { connection.ack(copy.tag) }
        }
    }

    /// Answered in the ledger only once on disk: until then a copy is parked and gets these bytes from memory, and
    /// after it the ledger may drop them (`replyCacheBytes`) because the store has them. Runs on the journal's thread
    /// (see ``AnswerSettler``): the copies parked behind the answer are answered on a task of their own.
    func answerWritten(id: String, answer: Answer, tag: DeliveryTag) {
        let parked = ledger.finish(id: id, answer: answer)
        connection.ack(tag)
        guard !parked.isEmpty else { return }
        Task {
            for copy in parked { await answerAgain(copy, with: answer, messageId: id) }
        }
    }

    /// Settles a copy of an answered message: the cached reply goes to the copy's inbox (unless the broker merely
    /// redelivered it, so the same inbox has it already), then the copy is acked. A reply that cannot be confirmed
    /// gives the copy back.
    private func answerAgain(_ copy: ParkedCopy, with answer: Answer, messageId: String) async {
        if answer.hasReply, let replyTo = copy.replyTo, !copy.redelivered,
            let body = await replyBytes(of: answer, messageId: messageId)
        {
            do {
                try await publishReply(body, to: replyTo, mode: copy.mode, messageId: messageId)
                metrics.repliesResent.increment()
            } catch {
                metrics.publishFailures.increment()
                connection.nack(copy.tag, requeue: true)
                return
            }
        }
        connection.ack(copy.tag)
    }

    /// The reply bytes of `answer`: from memory, or read back from the store when only the id was kept there.
    private func replyBytes(of answer: Answer, messageId: String) async -> [UInt8]? {
        if let reply = answer.reply { return reply }
        guard let store else { return nil }
        do {
            guard let stored = try await store.answeredMessage(id: messageId)?.reply else {
                logger.warning("the reply of an answered message is gone from the store; its duplicate gets none",
                               metadata: ["msg.id": "\(messageId)"])
                return nil
            }
            return stored
        } catch {
            logger.warning("could not read a cached reply", metadata: ["msg.id": "\(messageId)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: Refusals

    private func answerTimeout(_ delivery: Delivery, base: MessageBase, className: String, outcome: JobOutcome) async {
        let started = outcome.bodyStarted
        record(started ? .deadlineExceeded : .expired, className)
        await refuseAdmitted(
            delivery, base: base, reason: started ? "deadline-exceeded" : "expired",
            detail: started ? "handler still running at the message deadline; cancelled"
                            : "deadline passed while queued behind its key",
            className: className,
            replyError: SysError.timeout(className: className, id: base.id, timeoutMillis: base.timeout))
    }

    /// A refusal of a delivery admitted to the ledger: dead-letter copy and error reply, then the one settle path —
    /// done with the error as the answer (`remember`), or acked but forgotten so a retry runs afresh; given back when
    /// either could not be confirmed.
    private func refuseAdmitted(_ delivery: Delivery, base: MessageBase, reason: String, detail: String,
                                className: String, replyError: ErrorCode, remember: Bool = true) async {
        let answer = await refuse(delivery, reason: reason, detail: detail, base: base, className: className,
                                  replyError: replyError)
        let settlement: Settlement = switch answer {
        case nil: .giveBack(after: settings.publishFailureBackoff)
        case let answer? where remember: .done(answer)
        case _?: .refusedForNow
        }
        settle(delivery, id: base.id, settlement)
    }

    /// ``settleRefusal(_:reason:detail:base:className:replyError:)`` on a task of its own: a flood of bad input is
    /// refused with many dead-letter confirms in flight at once (the owner thread batches them), and a good message
    /// behind the flood is not kept waiting for them.
    private func refuseAside(_ delivery: Delivery, reason: String, detail: String, base: MessageBase?,
                             className: String?, replyError: ErrorCode?) {
        Task {
            await settleRefusal(delivery, reason: reason, detail: detail, base: base, className: className,
                                replyError: replyError)
        }
    }

    /// A refusal of a delivery that never reached the ledger (undecodable, unknown class, bad id…): ack once the
    /// dead-letter copy and the error reply are confirmed, else give it back.
    private func settleRefusal(_ delivery: Delivery, reason: String, detail: String, base: MessageBase?,
                               className: String?, replyError: ErrorCode?) async {
        if await refuse(delivery, reason: reason, detail: detail, base: base, className: className,
                        replyError: replyError) != nil {
            connection.ack(delivery.tag)
        } else {
            // Not marked handled; back to the queue after the same pause as a refused output (no hot loop).
            try? await Task.sleep(for: settings.publishFailureBackoff)
            giveBack(delivery.tag, id: base?.id)
        }
    }

    /// Dead-letter copy + error reply (when one is expected and possible). Returns the answer sent (the error
    /// reply), or nil when either could not be confirmed: the caller gives the delivery back and nothing is
    /// marked handled.
    private func refuse(_ delivery: Delivery, reason: String, detail: String, base: MessageBase?, className: String?,
                        replyError: ErrorCode?) async -> Answer? {
        do {
            try await deadLetters.store(delivery, reason: reason, detail: detail, className: className, messageId: base?.id)
            guard let base, let replyError, ReplyFactory.needsReply(base) else { return Answer.none }
            return try await send(MessageReply(error: replyError), to: base, mode: ReplyMode(delivery))
        } catch {
            metrics.publishFailures.increment()
            // Bounded as the dead-letter copy's headers are: a hostile id or class is cut.
            logger.warning("could not dead-letter or answer a refused message; returning it for redelivery",
                           metadata: [
                               "reason": "\(reason)", "queue": "\(delivery.queue)",
                               "msg.class": "\(className.map { $0.prefix(256) } ?? "-")",
                               "msg.id": "\(base.map { $0.id.prefix(128) } ?? "-")", "error": "\(error)",
                           ])
            return nil
        }
    }
}

/// One admitted delivery on its way through its key's executor: what the handler needs, and the claim that decides
/// who answers when the handler races its deadline — the handler's reply or the timeout reply, never both. One object
/// for all of it, so the executor's job and completion closures each capture a single reference and allocate no
/// context (separate captures and a separate claim object cost three allocations per message).
final class AdmittedDelivery: Sendable {
    let pipeline: DeliveryPipeline
    let entry: HandlerTable.Entry
    let message: any BusMessage
    let className: String
    /// The class's position in the pipeline's registry (its `classes` table).
    let classPosition: Int
    let key: String
    let context: HandlerContext
    let delivery: Delivery
    let mode: ReplyMode
    let received: MonotonicInstant
    private let claimed = Atomic<Bool>(false)

    init(pipeline: DeliveryPipeline, entry: HandlerTable.Entry, message: any BusMessage, className: String,
         classPosition: Int, key: String, context: HandlerContext, delivery: Delivery, mode: ReplyMode,
         received: MonotonicInstant) {
        self.pipeline = pipeline
        self.entry = entry
        self.message = message
        self.className = className
        self.classPosition = classPosition
        self.key = key
        self.context = context
        self.delivery = delivery
        self.mode = mode
        self.received = received
    }

    /// True for the first caller only: whoever claims answers.
    func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    func run() async { await pipeline.run(self) }

    func complete(_ outcome: JobOutcome) { pipeline.complete(self, outcome) }
}

/// What the pipeline keeps per registered class: its handler (nil for a class decoded but served by nobody, such
/// as a reply class) and its metric series.
private struct RegisteredClass: Sendable {
    let entry: HandlerTable.Entry?
    let series: ClassSeries
}
