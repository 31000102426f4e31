import CloudBus
import KVM
import Synchronization

/// Counters an operator (and the tests) read: what came in, what went out, what was refused and
/// why. Names are stable: `/metrics` serves them as Prometheus series.
public final class WorkerMetrics: CounterSink, Sendable {
    private let counters = Mutex<[String: Int]>([:])

    public init() {}

    public func increment(_ name: String, by amount: Int = 1) {
        counters.withLock { $0[name, default: 0] += amount }
    }

    /// Adds one to each counter, under one lock (the hot path counts a total and a per-class series together).
    public func increment(_ first: String, _ second: String) {
        counters.withLock {
            $0[first, default: 0] += 1
            $0[second, default: 0] += 1
        }
    }

    public subscript(name: String) -> Int { counters.withLock { $0[name] ?? 0 } }

    public var snapshot: [String: Int] { counters.withLock { $0 } }

    /// Prometheus text exposition of every counter (`cloudbus_worker_<name>_total`).
    public func prometheusText() -> String {
        snapshot.sorted { $0.key < $1.key }.map { name, value in
            let metric = "cloudbus_worker_" + name.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
            return "# TYPE \(metric)_total counter\n\(metric)_total \(value)\n"
        }.joined()
    }
}

/// Counter names, so tests and code agree.
public enum WorkerCounter {
    public static let received = "messages_received"
    public static let handled = "messages_handled"
    /// Handled messages of one Java class, e.g. `messages_handled.org.zstack.header.host.PingHostMsg`.
    public static func handled(_ className: String) -> String { "messages_handled.\(className)" }
    public static let replies = "replies_sent"
    public static let outbound = "messages_sent"
    public static let deadLettered = "dead_lettered"
    public static func deadLettered(_ reason: String) -> String { "dead_lettered.\(reason)" }
    /// Copies of a message in flight or answered: not executed again.
    public static let duplicates = "duplicates_dropped"
    /// Cached replies sent again to a copy (a sender's retry).
    public static let repliesResent = "replies_resent"
    /// Transactions that persisted answered message ids (each holds every answer that was waiting).
    public static let answerBatches = "answer_journal_batches"
    /// Failed writes of answered message ids (the window for them stays in memory only).
    public static let answerJournalFailures = "answer_journal_failures"
    /// Outbox rows published again after a lost confirm or a restart (at least once: receivers may see a repeat).
    public static let outboxRepublished = "outbox_republished"
    /// One-way messages acked without running because one of their kind already waited on the key (a VM sync).
    public static let coalesced = "messages_coalesced"
    /// Requests refused because too many already waited behind their key (`key-backlog-full`).
    public static let keyBacklogFull = "key_backlog_full"
    /// Lifecycle and global-config events ignored because their sender is not in `trustedSenders`.
    public static let untrustedEvents = "events_untrusted"
    /// Handler outputs no queue took: dead-lettered with reason `unroutable-output`.
    public static let unroutableOutputs = "outputs_unroutable"
    public static let expired = "expired_before_handling"
    public static let deadlineExceeded = "handler_deadline_exceeded"
    public static let handlerErrors = "handler_errors"
    public static let publishFailures = "publish_failures"
    public static let returnedReplies = "replies_unroutable"
    public static let events = "events_received"
    public static let eventFailures = "event_subscriber_failures"
    /// Heartbeats written to the shared store, and those that failed (the store was unreachable).
    public static let heartbeats = "membership_heartbeats"
    public static let heartbeatFailures = "membership_heartbeat_failures"
    /// Silent workers this worker declared left (it won the store's conditional update and announced them).
    public static let membersDeclaredLeft = "membership_declared_left"
    /// Requests passed on to the worker that owns their resource, and those refused after too many hops.
    public static let forwarded = "messages_forwarded"
    public static let forwardLoops = "forward_loops"
    /// Deliveries refused because the broker had returned them `deliveryLimit` times unsettled (quorum queues).
    public static let poisonRefused = "messages_refused_poison"
    /// Requests taken from a departed worker's queues and passed on to their owners.
    public static let drained = "messages_drained"
    /// Ring changes seen at a heartbeat or a lifecycle event.
    public static let ringChanges = "membership_ring_changes"
}
