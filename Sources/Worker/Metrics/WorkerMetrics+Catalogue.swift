import AgentHTTP
import KVM
import Primitives
import ZBS

extension WorkerMetrics {
    /// The worker's own family names: code, catalogue and test queries share these strings.
    enum Family {
        static let received = "cloudbus_worker_messages_received_total"
        static let messages = "cloudbus_worker_messages_total"
        static let duration = "cloudbus_worker_message_duration_seconds"
        static let deadLetters = "cloudbus_worker_dead_letters_total"
        static let replies = "cloudbus_worker_replies_total"
        static let repliesResent = "cloudbus_worker_replies_resent_total"
        static let repliesUnroutable = "cloudbus_worker_replies_unroutable_total"
        static let outputs = "cloudbus_worker_outputs_total"
        static let outputsUnroutable = "cloudbus_worker_outputs_unroutable_total"
        static let outboxRepublished = "cloudbus_worker_outbox_republished_total"
        static let publishFailures = "cloudbus_worker_publish_failures_total"
        static let answerBatches = "cloudbus_worker_answer_journal_batches_total"
        static let answerJournalFailures = "cloudbus_worker_answer_journal_failures_total"
        static let events = "cloudbus_worker_events_received_total"
        static let untrustedEvents = "cloudbus_worker_events_untrusted_total"
        static let eventFailures = "cloudbus_worker_event_subscriber_failures_total"
        static let heartbeats = "cloudbus_worker_membership_heartbeats_total"
        static let heartbeatFailures = "cloudbus_worker_membership_heartbeat_failures_total"
        static let membersDeclaredLeft = "cloudbus_worker_membership_declared_left_total"
        static let ringChanges = "cloudbus_worker_membership_ring_changes_total"
        static let drained = "cloudbus_worker_messages_drained_total"
        static let ready = "cloudbus_worker_ready"
        static let keysActive = "cloudbus_worker_executor_keys_active"
        static let jobsQueued = "cloudbus_worker_executor_jobs_queued"
        static let jobsRunning = "cloudbus_worker_executor_jobs_running"
        static let jobsAbandoned = "cloudbus_worker_executor_jobs_abandoned"
        static let dedupeWindow = "cloudbus_worker_dedupe_in_flight"
        static let amqpConnected = "cloudbus_worker_amqp_connected"
        static let amqpBlocked = "cloudbus_worker_amqp_blocked"
        static let amqpUnconfirmed = "cloudbus_worker_amqp_unconfirmed_outputs"
        static let amqpReconnects = "cloudbus_worker_amqp_reconnects_total"
        static let amqpFailovers = "cloudbus_worker_amqp_failovers_total"
        static let amqpConfirmTimeouts = "cloudbus_worker_amqp_confirm_timeouts_total"
        static let amqpSendBufferDeferrals = "cloudbus_worker_amqp_send_buffer_deferrals_total"
        static let amqpBorrowedPublishes = "cloudbus_worker_amqp_borrowed_publishes_total"
        static let amqpBorrowedPasses = "cloudbus_worker_amqp_borrowed_passes_total"
        static let amqpDelegatedReadPasses = "cloudbus_worker_amqp_delegated_read_passes_total"
        static let amqpDelegatedReadsReturned = "cloudbus_worker_amqp_delegated_reads_returned_total"
        static let amqpDeferredDelegatedReads = "cloudbus_worker_amqp_deferred_delegated_reads_total"
    }

    /// Every family the worker itself emits, with the help text `/metrics` carries.
    static let workerCatalogue: [MetricDescription] = [
        .init(Family.received, .counter, help: "Deliveries taken from the broker, before decoding."),
        .init(Family.messages, .counter, labels: ["class", "outcome"],
              help: "Requests of a registered class by how they ended (handled, handler_error, duplicate, poison, "
                  + "expired, deadline_exceeded, key_backlog_full, forwarded, given_back, ...)."),
        .init(Family.duration, .histogram, labels: ["class"],
              help: "Consume to the confirmed reply of requests the handler answered (the ack follows once the "
                  + "answer is journaled), in seconds."),
        .init(Family.deadLetters, .counter, labels: ["reason"],
              help: "Copies kept on the dead-letter queue, by reason (malformed input, expired, unroutable output...)."),
        .init(Family.replies, .counter, help: "Replies published and confirmed by the broker."),
        .init(Family.repliesResent, .counter, help: "Cached replies sent again to a sender's retry."),
        .init(Family.repliesUnroutable, .counter, help: "Replies no queue took: the requester was gone."),
        .init(Family.outputs, .counter, help: "Messages handlers sent (events, verdicts, forwarded calls), confirmed."),
        .init(Family.outputsUnroutable, .counter, help: "Handler outputs no queue took (dead-lettered)."),
        .init(Family.outboxRepublished, .counter,
              help: "Outbox rows published again after a lost confirm or a restart."),
        .init(Family.publishFailures, .counter,
              help: "Publishes the broker did not confirm; their message went back to the queue."),
        .init(Family.answerBatches, .counter, help: "Store transactions that persisted answered message ids."),
        .init(Family.answerJournalFailures, .counter,
              help: "Failed writes of answered message ids (dedupe falls back to memory)."),
        .init(Family.events, .counter, help: "Canonical events received (lifecycle, global config)."),
        .init(Family.untrustedEvents, .counter, help: "Events ignored because their sender is not trusted."),
        .init(Family.eventFailures, .counter, help: "Event subscribers that failed."),
        .init(Family.heartbeats, .counter, help: "Heartbeats written to the shared store."),
        .init(Family.heartbeatFailures, .counter, help: "Heartbeats that failed (the store was unreachable)."),
        .init(Family.membersDeclaredLeft, .counter, help: "Silent workers this worker declared left."),
        .init(Family.ringChanges, .counter, help: "Changes of the consistent-hash ring this worker saw."),
        .init(Family.drained, .counter, help: "Requests taken from a departed worker's queues and passed on."),
        .init(Family.ready, .gauge, help: "1 while /readyz answers 200: consuming, connected, not blocked, store up."),
        .init(Family.keysActive, .gauge, help: "Resource keys with work queued or running."),
        .init(Family.jobsQueued, .gauge, help: "Jobs waiting behind their key (the backlog)."),
        .init(Family.jobsRunning, .gauge, help: "Jobs running now (in flight)."),
        .init(Family.jobsAbandoned, .gauge,
              help: "Jobs cancelled at their deadline whose handler has not returned yet."),
        .init(Family.dedupeWindow, .gauge, help: "Message ids in flight in the dedupe ledger."),
        .init(Family.amqpConnected, .gauge, labels: ["connection", "endpoint"],
              help: "1 while the connection is up on that broker node (endpoint host:port), else 0."),
        .init(Family.amqpBlocked, .gauge, labels: ["connection"],
              help: "1 while the broker blocks publishing on the connection (memory or disk alarm)."),
        .init(Family.amqpUnconfirmed, .gauge, labels: ["connection"],
              help: "Publishes sent and not yet confirmed; growing means the broker stopped confirming."),
        .init(Family.amqpReconnects, .counter, labels: ["connection"], help: "Reconnects after a lost connection."),
        .init(Family.amqpFailovers, .counter, labels: ["connection"],
              help: "Reconnects that landed on another broker node."),
        .init(Family.amqpConfirmTimeouts, .counter, labels: ["connection"],
              help: "Publishes that got no confirm within the confirm timeout."),
        .init(Family.amqpSendBufferDeferrals, .counter, labels: ["connection"],
              help: "Publishes left to the connection's thread because its send buffer was filling: the broker reads slowly."),
        .init(Family.amqpBorrowedPublishes, .counter, labels: ["connection"],
              help: "Publishes the publishing thread wrote itself while the connection's thread slept (no wake-up)."),
        .init(Family.amqpBorrowedPasses, .counter, labels: ["connection"],
              help: "The writes those publishes went out in: far fewer than the publishes means replies were coalesced."),
        .init(Family.amqpDelegatedReadPasses, .counter, labels: ["connection"],
              help: "Passes in which the consuming connection's thread read this connection's confirms (no wake-up of its own thread)."),
        .init(Family.amqpDelegatedReadsReturned, .counter, labels: ["connection"],
              help: "Times that reading was handed back to this connection's thread (it was busy, or its send buffer was filling)."),
        .init(Family.amqpDeferredDelegatedReads, .counter, labels: ["connection"],
              help: "Sleeps in which this thread left replies' confirms to be read with its next delivery (a wake-up saved)."),
    ]

    /// Every family a worker process may emit: its own and those of the domain modules.
    public static let catalogue: [MetricDescription] = workerCatalogue + KVMMetrics.catalog + ZBSMetrics.catalog
        + AgentHTTPMetrics.catalog
}

/// Reads of the worker's counts, as queries over the exposition; the names tests and code agree on.
public enum WorkerCounter {
    private typealias Family = WorkerMetrics.Family

    public static let received = MetricQuery(Family.received)
    public static let handled = MetricQuery(Family.messages, ["outcome": MessageOutcome.handled.rawValue])
    /// Handled messages of one Java class, e.g. `org.zstack.header.host.PingHostMsg`.
    public static func handled(_ className: String) -> MetricQuery {
        MetricQuery(Family.messages, ["class": className, "outcome": MessageOutcome.handled.rawValue])
    }
    public static func outcome(_ outcome: MessageOutcome, className: String? = nil) -> MetricQuery {
        var labels = ["outcome": outcome.rawValue]
        labels["class"] = className
        return MetricQuery(Family.messages, labels)
    }
    public static let replies = MetricQuery(Family.replies)
    public static let outbound = MetricQuery(Family.outputs)
    public static let deadLettered = MetricQuery(Family.deadLetters)
    public static func deadLettered(_ reason: String) -> MetricQuery { MetricQuery(Family.deadLetters, ["reason": reason]) }
    public static let duplicates = outcome(.duplicate)
    public static let repliesResent = MetricQuery(Family.repliesResent)
    public static let answerBatches = MetricQuery(Family.answerBatches)
    public static let answerJournalFailures = MetricQuery(Family.answerJournalFailures)
    public static let outboxRepublished = MetricQuery(Family.outboxRepublished)
    public static let coalesced = outcome(.coalesced)
    public static let keyBacklogFull = outcome(.keyBacklogFull)
    public static let untrustedEvents = MetricQuery(Family.untrustedEvents)
    public static let unroutableOutputs = MetricQuery(Family.outputsUnroutable)
    public static let expired = outcome(.expired)
    public static let deadlineExceeded = outcome(.deadlineExceeded)
    public static let handlerErrors = outcome(.handlerError)
    public static let publishFailures = MetricQuery(Family.publishFailures)
    public static let returnedReplies = MetricQuery(Family.repliesUnroutable)
    public static let events = MetricQuery(Family.events)
    public static let eventFailures = MetricQuery(Family.eventFailures)
    public static let heartbeats = MetricQuery(Family.heartbeats)
    public static let heartbeatFailures = MetricQuery(Family.heartbeatFailures)
    public static let membersDeclaredLeft = MetricQuery(Family.membersDeclaredLeft)
    public static let forwarded = outcome(.forwarded)
    public static let forwardLoops = outcome(.forwardLoop)
    public static let poisonRefused = outcome(.poison)
    public static let drained = MetricQuery(Family.drained)
    public static let ringChanges = MetricQuery(Family.ringChanges)

    // The domain modules' families, for the tests' reads.
    public static let tracerRounds = MetricQuery(KVMMetrics.tracerRounds.name, ["outcome": "ok"])
    /// State changes the tracer reported, every state.
    public static let tracerVerdicts = MetricQuery(KVMMetrics.tracerVerdicts.name)
    public static func tracerSuppressed(_ guardName: KVMMetrics.SuppressionGuard) -> MetricQuery {
        MetricQuery(KVMMetrics.tracerVerdictsSuppressed.name, ["guard": guardName.rawValue])
    }
    public static let stoppedVerdictsSuppressed = MetricQuery(KVMMetrics.stoppedVerdictsSuppressed.name)
    public static let presenceProbeFailures = MetricQuery(KVMMetrics.presenceProbeFailures.name)
    public static let deviceInfoFailures = MetricQuery(KVMMetrics.deviceInfoFailures.name)
}
