// `timespec`/`timeval` resolve to the copy in CDispatch's clang module once the package links swift-metrics and
// hummingbird; the explicit-import check then wants that module named.
import CDispatch
@_spi(RawSession) import AMQP
import CloudBus
import CloudBusAMQP
import CRabbitMQ
import CRabbitMQShim
import Foundation
import Glibc
import Primitives

/// How the echo bench offers load.
enum EchoLoadShape: Sendable, Hashable {
    /// Closed loop: `window` requests in flight; each reply releases the next request of its slot.
    case closed(window: Int)
    /// Open loop: request k is due at start + k / rate whatever the replies do, and its latency counts from when it
    /// was due, not from when it went out, so a responder (or client) that falls behind cannot hide its backlog
    /// (coordinated omission). At most `maxInFlight` requests are outstanding; a due request waits for a free slot.
    case fixedRate(perSecond: Int, maxInFlight: Int)
}

/// One echo run's settings.
struct EchoLoadPlan: Sendable {
    var shape: EchoLoadShape
    var warmup: Duration
    var duration: Duration
    /// Persistent requests (delivery mode 2) on a confirm-mode channel; otherwise transient, unconfirmed.
    var reliable: Bool
    var payloadBytes: Int
    var sameKey: Bool
    var maxSamples: Int
    /// No reply for this long while requests are outstanding ends the run as stalled; after the measured window
    /// the client waits at most this long for the last replies (and confirms).
    var stallLimit: Duration = .seconds(5)
}

/// When each request of a fixed-rate run is due: request k at `start + floor(k · 10⁹ / perSecond)` ns. Integer
/// arithmetic, so the schedule never drifts however long the run.
struct FixedRateSchedule: Sendable, Equatable {
    let start: UInt64
    let perSecond: UInt64

    init(start: UInt64, perSecond: Int) {
        self.start = start
        self.perSecond = UInt64(max(1, perSecond))
    }

    /// When request `index` is due (monotonic nanoseconds).
    func dueTime(of index: UInt64) -> UInt64 { start + index * 1_000_000_000 / perSecond }

    /// How many requests are due at `now`: requests 0..<n have `dueTime <= now`. From
    /// floor(k·G/r) ≤ d ⇔ k·G < (d+1)·r, hence n = ceil((d+1)·r / G).
    func dueCount(at now: UInt64) -> UInt64 {
        guard now >= start else { return 0 }
        return ((now - start + 1) * perSecond + 999_999_999) / 1_000_000_000
    }

    /// Requests due strictly before `end`: the ones a run that stops scheduling at `end` sends.
    func count(before end: UInt64) -> UInt64 { end > start ? dueCount(at: end - 1) : 0 }
}

/// The echo bench's load client, written directly on rabbitmq-c so its cost per request does not depend on the
/// responder it measures: one dedicated thread, one connection, one channel (requests published and replies
/// consumed on it, confirm mode in reliable runs), one poll loop. Every request is sent from one pre-encoded
/// buffer whose ids are patched in place, and each reply is matched to its slot by a byte scan of its
/// `correlationId`: no JSON model, no allocation per request. Its CPU is its thread's CPU clock.
enum EchoLoadClient {
    /// Connects, declares a reply inbox (as ZStack names and declares it), runs `plan` against `queue`, deletes
    /// the inbox and disconnects. Returns when the run is over; never runs past warm-up + duration + twice the
    /// stall limit.
    static func run(queue: String, serviceId: String, amqp: AMQPConfiguration, plan: EchoLoadPlan, runTag: UInt16,
                    probes: BenchCPUProbes) async throws -> BenchLoadResult {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BenchLoadResult, any Error>) in
            let thread = Thread {
                do throws(AMQPError) {
                    continuation.resume(returning: try runHere(queue: queue, serviceId: serviceId, amqp: amqp,
                                                               plan: plan, runTag: runTag, probes: probes))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "bench-client"
            thread.start()
        }
    }

    /// Declares `P2P`, `BROADCAST` and `NO_ROUTE` as ZStack declares them (idempotent), on a short-lived connection.
    static func declareBusExchanges(amqp: AMQPConfiguration) throws(AMQPError) {
        let session = try RabbitSession(configuration: amqp)
        defer { session.close() }
        for exchange in BusTopology.exchanges { try session.declare(exchange) }
    }

    /// The whole run on the calling thread.
    static func runHere(queue: String, serviceId: String, amqp: AMQPConfiguration, plan: EchoLoadPlan,
                        runTag: UInt16, probes: BenchCPUProbes) throws(AMQPError) -> BenchLoadResult {
        let session = try RabbitSession(configuration: amqp)
        let node = NodeUUID.random()
        let inbox = ServiceID.replyInbox(of: node).queueName
        do throws(AMQPError) {
            let topology = BusTopology.replyInbox(node: node)
            for declaration in topology.queues { try session.declare(declaration) }
            for binding in topology.bindings { try session.bind(binding) }
            if plan.reliable {
                _ = amqp_confirm_select(session.state, RabbitSession.consumeChannel)
                try RabbitSession.check(amqp_get_rpc_reply(session.state), operation: "confirm.select",
                                        state: session.state)
            }
            try session.consume(queue: inbox, consumerTag: "bench-client", noAck: true)
        } catch {
            session.abandon()
            throw error
        }
        let request = BenchRequest(serviceId: serviceId, replyTo: inbox, payloadBytes: plan.payloadBytes,
                                   runTag: runTag, sameKey: plan.sameKey, createdTime: EpochMillis.now())
        var loop = EchoLoop(session: session, queue: queue, request: request, plan: plan, probes: probes)
        let result: BenchLoadResult
        do {
            result = try loop.run()
        } catch {
            session.abandon()
            throw error
        }
        // The inbox is auto-delete and expires anyway; deleting it here leaves nothing behind at once.
        let status = inbox.withCString { name in
            amqp_queue_delete(session.state, RabbitSession.consumeChannel, amqp_cstring_bytes(name), 0, 0)
        }
        _ = status
        try? RabbitSession.check(amqp_get_rpc_reply(session.state), operation: "queue.delete \(inbox)",
                                 state: session.state)
        session.close()
        return result
    }
}

/// The client's poll loop and its per-slot bookkeeping. Confined to the client thread with its session.
private struct EchoLoop {
    private let session: RabbitSession
    private let request: BenchRequest
    private let plan: EchoLoadPlan
    private let probes: BenchCPUProbes
    private let slots: Int
    private let schedule: FixedRateSchedule?

    // C strings and the request buffer, allocated once for the whole run and freed by `release()`.
    private let exchange: UnsafeMutablePointer<CChar>
    private let routingKey: UnsafeMutablePointer<CChar>
    private let expiration: UnsafeMutablePointer<CChar>
    private let buffer: UnsafeMutableRawBufferPointer
    private var properties = amqp_basic_properties_t()

    // Per slot: the sequence of the outstanding request (0: none), when its latency started, whether it counts.
    private var expected: [UInt64]
    private var origin: [UInt64]
    private var measuredSlot: [Bool]
    private var freeSlots: [Int] = []
    private var sequence: UInt64 = 0
    private var inFlight = 0
    /// Fixed rate: the index of the next request to send, and how many are due before the window's end.
    private var nextIndex: UInt64 = 0
    private var lastIndex: UInt64 = 0

    private var latencies: BenchLatencies
    private var completed = 0
    private var errorReplies = 0
    private var unmatched = 0
    private var published: UInt64 = 0
    private var confirmed: UInt64 = 0
    private var nacked = 0

    // A reply spanning several body frames (never ours, but the loop must not care).
    private var assembling: [UInt8] = []
    private var expectedBodySize = 0
    private var inDelivery = false

    private var measureStart: UInt64 = 0
    private var measureEnd: UInt64 = 0
    private let socket: Int32

    init(session: RabbitSession, queue: String, request: BenchRequest, plan: EchoLoadPlan, probes: BenchCPUProbes) {
        self.session = session
        self.request = request
        self.plan = plan
        self.probes = probes
        socket = amqp_get_sockfd(session.state)
        switch plan.shape {
        case .closed(let window):
            slots = window
            schedule = nil
        case .fixedRate(let perSecond, let maxInFlight):
            slots = maxInFlight
            schedule = FixedRateSchedule(start: 0, perSecond: perSecond)
        }
        expected = [UInt64](repeating: 0, count: slots)
        origin = [UInt64](repeating: 0, count: slots)
        measuredSlot = [Bool](repeating: false, count: slots)
        freeSlots = Array((0..<slots).reversed())
        latencies = BenchLatencies(capacity: plan.maxSamples)
        exchange = strdup(BusNames.p2pExchange)
        routingKey = strdup(queue)
        expiration = strdup(BusNames.messageExpiration)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: request.size, alignment: 8)
        request.template.withUnsafeBytes { buffer.copyMemory(from: $0) }
        properties._flags = cloudbus_flag_delivery_mode | cloudbus_flag_expiration
        properties.delivery_mode = plan.reliable ? 2 : 1
        properties.expiration = amqp_cstring_bytes(expiration)
        assembling.reserveCapacity(64 * 1024)
    }

    private func release() {
        free(exchange)
        free(routingKey)
        free(expiration)
        buffer.deallocate()
    }

    private struct Snapshot {
        var wall: UInt64
        var client: Duration
        var responder: Duration?
        var broker: Duration?

        init(_ probes: BenchCPUProbes) {
            wall = MonotonicNanos.now()
            client = BenchProcStat.threadCPUTime()
            responder = probes.responder()
            broker = probes.broker?()
        }
    }

    mutating func run() throws(AMQPError) -> BenchLoadResult {
        defer { release() }
        let start = MonotonicNanos.now()
        measureStart = start + UInt64(max(0, plan.warmup.inNanoseconds))
        measureEnd = measureStart + UInt64(max(0, plan.duration.inNanoseconds))
        let stallNanos = UInt64(max(0, plan.stallLimit.inNanoseconds))
        let giveUp = measureEnd + stallNanos
        var first: Snapshot?
        var last: Snapshot?
        var lastProgress = start
        var stalled = false
        var fixed: FixedRateSchedule?
        if let schedule {
            let anchored = FixedRateSchedule(start: start, perSecond: Int(schedule.perSecond))
            fixed = anchored
            lastIndex = anchored.count(before: measureEnd)
        } else {
            for _ in 0..<slots { try send(slot: freeSlots.removeLast(), origin: nil, measured: false) }
        }

        while true {
            var now = MonotonicNanos.now()
            if first == nil, now >= measureStart { first = Snapshot(probes) }
            if last == nil, now >= measureEnd { last = Snapshot(probes) }
            if let fixed {
                let due = min(fixed.dueCount(at: now), lastIndex)
                while nextIndex < due, let slot = freeSlots.popLast() {
                    let dueAt = fixed.dueTime(of: nextIndex)
                    try send(slot: slot, origin: dueAt, measured: dueAt >= measureStart)
                    nextIndex += 1
                }
            }
            let sendingDone = fixed == nil ? now >= measureEnd : nextIndex >= lastIndex
            if now >= measureEnd, sendingDone, inFlight == 0, confirmed >= published { break }
            if now >= giveUp { break }
            if inFlight > 0, now > lastProgress + stallNanos {
                stalled = true
                break
            }

            let buffered = session.hasBufferedInput
            var waitNanos: UInt64 = 0
            if !buffered {
                session.releaseBuffers()
                waitNanos = 100_000_000
                if now < measureStart { waitNanos = min(waitNanos, measureStart - now) }
                if now < measureEnd { waitNanos = min(waitNanos, measureEnd - now) }
                if let fixed, nextIndex < lastIndex, !freeSlots.isEmpty {
                    let dueAt = fixed.dueTime(of: nextIndex)
                    waitNanos = dueAt > now ? min(waitNanos, dueAt - now) : 0
                }
            }
            // rabbitmq-c waits in whole milliseconds (poll(2)), so a sub-millisecond wait until the next due request
            // would spin; select(2) waits to the microsecond. Only once the socket is readable does rabbitmq-c read.
            if !buffered, waitNanos > 0, !Self.waitReadable(socket, nanoseconds: waitNanos) { continue }
            var frame = amqp_frame_t()
            var immediate = timeval(tv_sec: 0, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(session.state, &frame, &immediate)
            if status == AMQP_STATUS_TIMEOUT.rawValue { continue }
            guard status == AMQP_STATUS_OK.rawValue else {
                throw AMQPError.connectionLost(reason: RabbitSession.statusText(status))
            }
            now = MonotonicNanos.now()
            if try handle(frame, at: now) { lastProgress = now }
        }
        if last == nil { last = Snapshot(probes) }
        let snapshotsOK = first != nil && !(stalled && MonotonicNanos.now() < measureEnd)
        var responderCPU: Duration?
        var clientCPU: Duration?
        var brokerCPU: Duration?
        var wall = Duration.zero
        if let first, let last, snapshotsOK {
            wall = .nanoseconds(Int64(last.wall - first.wall))
            clientCPU = last.client - first.client
            if let a = first.responder, let b = last.responder { responderCPU = b - a }
            if let a = first.broker, let b = last.broker { brokerCPU = b - a }
        }
        var offered: Double?
        if case .fixedRate(let perSecond, _) = plan.shape { offered = Double(perSecond) }
        return BenchLoadResult(
            completed: completed, requestsPerSecond: Double(completed) / plan.duration.inSeconds,
            latency: latencies.summary(), droppedSamples: latencies.dropped, errorReplies: errorReplies,
            unmatchedReplies: unmatched, publishFailures: nacked, stalled: stalled || first == nil,
            measuredWall: wall, responderCPU: responderCPU, clientCPU: clientCPU, brokerCPU: brokerCPU,
            requestBytes: request.size, loadAverageAfter: BenchProcStat.loadAverage, offeredPerSecond: offered,
            unsent: fixed == nil ? 0 : Int(lastIndex - nextIndex), unanswered: inFlight)
    }

    /// Waits until `socket` is readable (true) or `nanoseconds` have passed (false), to the microsecond.
    private static func waitReadable(_ socket: Int32, nanoseconds: UInt64) -> Bool {
        guard socket >= 0, socket < FD_SETSIZE else { return true }
        var readable = fd_set()
        withUnsafeMutableBytes(of: &readable) { raw in
            let words = raw.bindMemory(to: Int.self)
            words[Int(socket) / Int.bitWidth] |= 1 << (Int(socket) % Int.bitWidth)
        }
        let micros = max(1, nanoseconds / 1000)
        var timeout = timeval(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
        let ready = select(socket + 1, &readable, nil, nil, &timeout)
        return ready != 0 // an error (EINTR) counts as readable: rabbitmq-c then reads and reports the real state
    }

    /// Publishes the next request on `slot` from the patched buffer. `origin`: when its latency starts (a fixed-rate
    /// request's due time); nil for now. `measured`: whether its latency is a sample (closed loop: decided on reply).
    private mutating func send(slot: Int, origin dueAt: UInt64?, measured: Bool) throws(AMQPError) {
        sequence += 1
        request.patch(buffer, slot: slot, sequence: sequence)
        let body = amqp_bytes_t(len: buffer.count, bytes: buffer.baseAddress)
        let status = amqp_basic_publish(session.state, RabbitSession.consumeChannel, amqp_cstring_bytes(exchange),
                                        amqp_cstring_bytes(routingKey), 0, 0, &properties, body)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .library(operation: "basic.publish (bench client)", status: status,
                           message: RabbitSession.statusText(status))
        }
        if plan.reliable { published += 1 }
        expected[slot] = sequence
        origin[slot] = dueAt ?? MonotonicNanos.now()
        measuredSlot[slot] = measured
        inFlight += 1
    }

    /// Handles one frame; true when it was a matched reply (progress for the stall check).
    private mutating func handle(_ frame: amqp_frame_t, at now: UInt64) throws(AMQPError) -> Bool {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            try handleMethod(frame.payload.method, channel: frame.channel)
            return false
        case AMQP_FRAME_HEADER:
            expectedBodySize = Int(frame.payload.properties.body_size)
            assembling.removeAll(keepingCapacity: true)
            if inDelivery, expectedBodySize == 0 {
                inDelivery = false
                return try reply(UnsafeRawBufferPointer(start: nil, count: 0), at: now)
            }
            return false
        case AMQP_FRAME_BODY:
            guard inDelivery else { return false }
            let fragment = frame.payload.body_fragment
            let bytes = UnsafeRawBufferPointer(start: fragment.bytes, count: fragment.len)
            if assembling.isEmpty, bytes.count >= expectedBodySize {
                inDelivery = false
                return try reply(bytes, at: now)
            }
            assembling.append(contentsOf: bytes)
            guard assembling.count >= expectedBodySize else { return false }
            inDelivery = false
            let whole = assembling
            var failure: AMQPError?
            let matched = whole.withUnsafeBytes { raw -> Bool in
                do throws(AMQPError) { return try reply(raw, at: now) } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
            return matched
        default:
            return false
        }
    }

    private mutating func handleMethod(_ method: amqp_method_t, channel: amqp_channel_t) throws(AMQPError) {
        guard let decoded = method.decoded else { return }
        switch method.id {
        case MethodID.basicDeliver:
            inDelivery = true
        case MethodID.basicAck:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            // One queue per request: the broker confirms in publish order, so the highest tag is the count.
            confirmed = max(confirmed, ack.delivery_tag)
        case MethodID.basicNack:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            nacked += nack.multiple != 0 ? Int(nack.delivery_tag - min(confirmed, nack.delivery_tag)) : 1
            confirmed = max(confirmed, nack.delivery_tag)
        case MethodID.basicCancel:
            throw .connectionLost(reason: "broker cancelled the bench client's reply consumer")
        case MethodID.channelClose, MethodID.connectionClose:
            if let error = session.brokerClose(method, channel: channel,
                                               channelOperation: "bench client channel \(channel)",
                                               connectionOperation: "bench client") {
                throw error
            }
        default:
            break
        }
    }

    /// A complete reply: match it to its slot, record it, and (closed loop, before the end) send the slot's next.
    private mutating func reply(_ body: UnsafeRawBufferPointer, at now: UInt64) throws(AMQPError) -> Bool {
        guard let facts = BenchRequest.facts(ofReply: body), facts.runTag == request.runTag, facts.slot < slots,
              expected[facts.slot] != 0, expected[facts.slot] == facts.sequence
        else {
            unmatched += 1
            return false
        }
        let slot = facts.slot
        expected[slot] = 0
        inFlight -= 1
        let inWindow = now >= measureStart && now < measureEnd
        if inWindow {
            completed += 1
            if !facts.success { errorReplies += 1 }
        }
        if schedule == nil {
            if inWindow { latencies.record(nanoseconds: now - origin[slot]) }
            if now < measureEnd { try send(slot: slot, origin: nil, measured: false) } else { freeSlots.append(slot) }
        } else {
            if measuredSlot[slot] { latencies.record(nanoseconds: now &- origin[slot]) }
            freeSlots.append(slot)
        }
        return true
    }
}
