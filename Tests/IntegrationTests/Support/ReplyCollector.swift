import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Synchronization

/// A reply inbox of the test's own, on its own connection, that records every reply by
/// correlation id — without a continuation per request, so it stays lean for thousands of them.
///
/// Why not `RPCClient`: its inbox is auto-delete (it dies with a broker restart) and it keeps one
/// waiting task per call. Here the inbox is durable when asked (replies routed while the
/// collector reconnects wait in it), expires 2 minutes after its last consumer left (so tests
/// leave nothing behind), and is consumed with manual ack (a reply in flight when the connection
/// drops is redelivered, not lost).
///
/// Promises: every delivery is recorded in arrival order; a copy the broker *redelivered to us*
/// (our own ack was lost in a reconnect) is counted apart from a second reply the worker sent.
final class ReplyCollector: Sendable {
    /// What the first reply for one correlation id said, and how many replies came for it.
    struct Entry: Sendable, Equatable {
        /// 0-based position of this id's first reply among all first replies.
        var arrival: Int
        var count: Int
        var className: String
        var success: Bool
        var errorCode: String?
        var payload: String?
        /// Later replies for this id whose class, outcome or payload differ from the first.
        var divergentCopies: Int
    }

    /// Aggregates a test asserts on.
    struct Summary: Sendable {
        var expected: Int
        var answered: Int
        /// Replies beyond the first, over all ids (worker-side duplicates).
        var extraReplies: Int
        var duplicatedIds: Int
        var divergentCopies: Int
        /// Replies whose correlation id no request of this test carried.
        var unknown: Int
        var unparsable: Int
        /// Copies the broker redelivered to this collector after its own reconnect.
        var inboxRedeliveries: Int
    }

    private struct State {
        var expected: Set<String> = []
        var entries: [String: Entry] = [:]
        var extraReplies = 0
        var duplicatedIds = 0
        var divergentCopies = 0
        var unknown = 0
        var unparsable = 0
        var inboxRedeliveries = 0
    }

    let connection: AMQPConnection
    /// The routing key requests carry in `headers.replyTo` (`zstack.message.cloudbus.<node>`).
    let inbox: String
    private let state = Mutex(State())
    private let consumer = Mutex<Task<Void, Never>?>(nil)

    private init(connection: AMQPConnection, inbox: String) {
        self.connection = connection
        self.inbox = inbox
    }

    /// Connects, declares the inbox (bound to `P2P` under its own name) and starts recording —
    /// unless `consuming` is false: then replies pile up in the inbox until `startConsuming()`.
    static func open(durable: Bool, consuming: Bool = true) async throws -> ReplyCollector {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 1000)
        try await connection.start()
        let inbox = ServiceID.replyInbox(of: .random()).queueName
        try await connection.declare(Topology(
            exchanges: BusTopology.exchanges,
            queues: [QueueDeclaration(name: inbox, durable: durable, arguments: ["x-expires": .int64(120_000)])],
            bindings: [QueueBinding(queue: inbox, exchange: BusNames.p2pExchange, routingKey: inbox)]))
        let collector = ReplyCollector(connection: connection, inbox: inbox)
        if consuming { try await collector.startConsuming() }
        return collector
    }

    /// Starts recording (once; `open` does it unless told not to).
    func startConsuming() async throws {
        guard consumer.withLock({ $0 == nil }) else { return }
        let deliveries = try await connection.consume(ConsumerSpecification(queue: inbox))
        let task = Task { [connection] in
            for await delivery in deliveries {
                self.record(delivery)
                connection.ack(delivery.tag)
            }
        }
        consumer.withLock { $0 = task }
    }

    /// Declares that a request with this correlation id was (or is about to be) sent. Call it
    /// before publishing, so a fast reply is never mistaken for an unknown one.
    func expect(_ correlationId: String) {
        state.withLock { _ = $0.expected.insert(correlationId) }
    }

    func entry(for correlationId: String) -> Entry? {
        state.withLock { $0.entries[correlationId] }
    }

    func isAnswered(_ correlationId: String) -> Bool {
        state.withLock { $0.entries[correlationId] != nil }
    }

    var answeredCount: Int { state.withLock { $0.entries.count } }

    var summary: Summary {
        state.withLock { state in
            Summary(expected: state.expected.count, answered: state.entries.count, extraReplies: state.extraReplies,
                    duplicatedIds: state.duplicatedIds, divergentCopies: state.divergentCopies,
                    unknown: state.unknown, unparsable: state.unparsable,
                    inboxRedeliveries: state.inboxRedeliveries)
        }
    }

    /// Expected ids without a reply yet.
    var unanswered: [String] {
        state.withLock { state in state.expected.filter { state.entries[$0] == nil } }
    }

    /// Polls until `condition` holds or `limit` passes; returns whether it held.
    func waitUntil(within limit: Duration, _ condition: (ReplyCollector) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(self)
    }

    /// Polls until every expected id has a reply or `limit` passes; returns whether all did.
    func waitForAll(within limit: Duration) async -> Bool {
        await waitUntil(within: limit) { collector in
            collector.state.withLock { $0.entries.count >= $0.expected.count }
        }
    }

    func close() async {
        consumer.withLock { $0?.cancel() }
        await connection.close()
    }

    private func record(_ delivery: Delivery) {
        guard let reply = try? RPCReply(body: Data(delivery.body)), let correlationId = reply.correlationId else {
            state.withLock { $0.unparsable += 1 }
            return
        }
        let payload = reply.fields["payload"]?.stringValue
        state.withLock { state in
            guard state.expected.contains(correlationId) else {
                state.unknown += 1
                return
            }
            guard var entry = state.entries[correlationId] else {
                state.entries[correlationId] = Entry(arrival: state.entries.count, count: 1, className: reply.className,
                                                     success: reply.success, errorCode: reply.errorCode,
                                                     payload: payload, divergentCopies: 0)
                return
            }
            if delivery.redelivered {
                // Our own ack was lost in a reconnect: the broker gives us the same reply again.
                state.inboxRedeliveries += 1
                return
            }
            entry.count += 1
            if entry.className != reply.className || entry.success != reply.success
                || entry.errorCode != reply.errorCode || entry.payload != payload {
                entry.divergentCopies += 1
                state.divergentCopies += 1
            }
            if entry.count == 2 { state.duplicatedIds += 1 }
            state.extraReplies += 1
            state.entries[correlationId] = entry
        }
    }
}
