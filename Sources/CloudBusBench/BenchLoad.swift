import AMQP
import CloudBus
import CloudBusAMQP
import Logging
import Primitives
import Synchronization

/// One measured run's settings.
struct BenchLoadSettings: Sendable {
    /// Requests kept in flight (closed loop: each reply immediately releases the next request of its slot).
    var window: Int
    var warmup: Duration
    var duration: Duration
    /// Persistent requests (delivery mode 2), each published with a confirm; otherwise transient, unconfirmed.
    var reliable: Bool
    var payloadBytes: Int
    var sameKey: Bool
    var maxSamples: Int
    /// No reply at all for this long ends the run as stalled (a responder that lost a message would hang it).
    var stallLimit: Duration = .seconds(5)
}

/// Where the CPU went during the measured interval.
struct BenchCPUProbes: Sendable {
    var responder: @Sendable () -> Duration?
    /// The responder's CPU is part of this process's and is subtracted from the client's.
    var responderInProcess: Bool
    var broker: (@Sendable () -> Duration?)?
}

struct BenchLoadResult: Sendable {
    var completed: Int
    var requestsPerSecond: Double
    var latency: BenchLatencySummary
    var droppedSamples: Int
    var errorReplies: Int
    var unmatchedReplies: Int
    var publishFailures: Int
    var stalled: Bool
    var measuredWall: Duration
    var responderCPU: Duration?
    var clientCPU: Duration?
    var brokerCPU: Duration?
    var requestBytes: Int
    var loadAverageAfter: String
    /// Fixed-rate runs: the rate asked for (requests/s).
    var offeredPerSecond: Double? = nil
    /// Fixed-rate runs: requests due before the end that never went out (the in-flight cap held them back).
    var unsent: Int = 0
    /// Requests still unanswered when the run gave up waiting.
    var unanswered: Int = 0
}

/// The older load generator, kept for the subcommands that use it (queue-types, hung-key); the echo bench uses
/// `EchoLoadClient`. A lean client on our `AMQPConnection` (not `RPCClient`, whose per-call JSON model, task
/// group and timer would make the client, not the responder, the bottleneck on two cores). Requests are
/// pre-encoded and patched; replies are matched to their slot by a byte scan of `correlationId`.
enum BenchLoad {
    static func run(queue: String, serviceId: String, amqp: AMQPConfiguration, settings: BenchLoadSettings,
                    runTag: UInt16, probes: BenchCPUProbes) async throws -> BenchLoadResult {
        let connection = AMQPConnection(configuration: amqp, prefetch: 1, logger: Logger(label: "bench.client"))
        try await connection.start()
        let node = NodeUUID.random()
        try await connection.declare(BusTopology.replyInbox(node: node))
        let inbox = ServiceID.replyInbox(of: node).queueName
        let replies = try await connection.consume(ConsumerSpecification(queue: inbox, noAck: true))
        let request = BenchRequest(serviceId: serviceId, replyTo: inbox, payloadBytes: settings.payloadBytes,
                                   runTag: runTag, sameKey: settings.sameKey, createdTime: EpochMillis.now())
        let shared = SharedCounters()
        let result = await withTaskGroup(of: BenchLoadResult?.self) { group in
            group.addTask {
                await closedLoop(connection: connection, queue: queue, request: request, replies: replies,
                                 settings: settings, probes: probes, shared: shared)
            }
            group.addTask {
                await watchdog(shared, limit: settings.stallLimit)
                return nil
            }
            var measured: BenchLoadResult?
            while let next = await group.next() {
                if let next { measured = next }
                group.cancelAll()
            }
            return measured!
        }
        // Reliable mode: a reply can overtake its request's confirm; closing now would fail that publish.
        let confirmDeadline = ContinuousClock.now + settings.stallLimit
        while shared.pendingConfirms.load(ordering: .relaxed) > 0 && ContinuousClock.now < confirmDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        await connection.close()
        var final = result
        final.publishFailures = shared.publishFailures.load(ordering: .relaxed)
        return final
    }

    /// Counters the loop shares with the watchdog and the confirm tasks.
    private final class SharedCounters: Sendable {
        let replies = Atomic<Int>(0)
        let publishFailures = Atomic<Int>(0)
        let pendingConfirms = Atomic<Int>(0)
    }

    /// Returns when no reply has arrived for `limit` (the group then cancels the loop), or when cancelled.
    private static func watchdog(_ shared: SharedCounters, limit: Duration) async {
        var seen = shared.replies.load(ordering: .relaxed)
        var lastChange = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            let now = shared.replies.load(ordering: .relaxed)
            if now != seen {
                seen = now
                lastChange = .now
            } else if lastChange.duration(to: .now) > limit {
                return
            }
        }
    }

    private struct CPUSnapshot {
        var wall: UInt64
        var responder: Duration?
        var own: Duration
        var broker: Duration?

        init(_ probes: BenchCPUProbes) {
            wall = MonotonicNanos.now()
            responder = probes.responder()
            own = BenchProcStat.ownCPUTime()
            broker = probes.broker?()
        }
    }

    private static func closedLoop(connection: AMQPConnection, queue: String, request: BenchRequest,
                                   replies: DeliveryStream, settings: BenchLoadSettings, probes: BenchCPUProbes,
                                   shared: SharedCounters) async -> BenchLoadResult {
        let window = settings.window
        var sentAt = [UInt64](repeating: 0, count: window)
        var expected = [UInt64](repeating: 0, count: window) // 0: nothing outstanding on the slot
        var nextSequence: UInt64 = 0
        var inFlight = 0
        var latencies = BenchLatencies(capacity: settings.maxSamples)
        var completed = 0
        var errorReplies = 0
        var unmatched = 0
        let properties = AMQPProperties(deliveryMode: settings.reliable ? 2 : 1, expiration: BusNames.messageExpiration)
        let reliable = settings.reliable

        func send(_ slot: Int) {
            nextSequence += 1
            expected[slot] = nextSequence
            let message = OutgoingMessage(exchange: BusNames.p2pExchange, routingKey: queue,
                                          body: request.body(slot: slot, sequence: nextSequence), properties: properties)
            inFlight += 1
            sentAt[slot] = MonotonicNanos.now()
            if reliable {
                shared.pendingConfirms.add(1, ordering: .relaxed)
                Task {
                    do { try await connection.publish(message) } catch { shared.publishFailures.add(1, ordering: .relaxed) }
                    shared.pendingConfirms.subtract(1, ordering: .relaxed)
                }
            } else {
                connection.publishWithoutConfirm(message)
            }
        }

        let start = MonotonicNanos.now()
        let measureStart = start + UInt64(max(0, settings.warmup.inNanoseconds))
        let measureEnd = measureStart + UInt64(max(0, settings.duration.inNanoseconds))
        var first: CPUSnapshot?
        var last: CPUSnapshot?
        for slot in 0..<window { send(slot) }
        for await delivery in replies {
            let now = MonotonicNanos.now()
            shared.replies.add(1, ordering: .relaxed)
            guard let facts = BenchRequest.facts(ofReply: delivery.body), facts.runTag == request.runTag,
                  facts.slot < window, expected[facts.slot] == facts.sequence
            else {
                unmatched += 1
                continue
            }
            let slot = facts.slot
            expected[slot] = 0
            inFlight -= 1
            if now >= measureStart && now < measureEnd {
                if first == nil { first = CPUSnapshot(probes) }
                latencies.record(nanoseconds: now - sentAt[slot])
                completed += 1
                if !facts.success { errorReplies += 1 }
            }
            if now < measureEnd {
                send(slot)
            } else {
                if last == nil { last = CPUSnapshot(probes) }
                if inFlight == 0 { break }
            }
        }
        let stalled = Task.isCancelled || last == nil
        if last == nil { last = CPUSnapshot(probes) }
        var responderCPU: Duration?
        var clientCPU: Duration?
        var brokerCPU: Duration?
        var wall = Duration.zero
        if let first, let last {
            wall = .nanoseconds(Int64(last.wall - first.wall))
            if let a = first.responder, let b = last.responder { responderCPU = b - a }
            clientCPU = last.own - first.own - (probes.responderInProcess ? (responderCPU ?? .zero) : .zero)
            if let a = first.broker, let b = last.broker { brokerCPU = b - a }
        }
        let seconds = settings.duration.inSeconds
        return BenchLoadResult(
            completed: completed, requestsPerSecond: Double(completed) / seconds, latency: latencies.summary(),
            droppedSamples: latencies.dropped, errorReplies: errorReplies, unmatchedReplies: unmatched,
            publishFailures: shared.publishFailures.load(ordering: .relaxed), stalled: stalled, measuredWall: wall,
            responderCPU: responderCPU, clientCPU: clientCPU, brokerCPU: brokerCPU, requestBytes: request.size,
            loadAverageAfter: BenchProcStat.loadAverage)
    }
}
