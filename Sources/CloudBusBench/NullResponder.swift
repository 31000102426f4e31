// `timespec`/`timeval` resolve to the copy in CDispatch's clang module once the package links swift-metrics and
// hummingbird; the explicit-import check then wants that module named.
import CDispatch
@_spi(RawSession) import AMQP
import CRabbitMQ
import CRabbitMQShim
import Foundation
import Glibc
import Synchronization

/// The benchmark's "broker limit" baseline: the least any responder on rabbitmq-c can do per request.
///
/// One dedicated thread, one connection, raw `amqp_*` calls. It consumes one queue with manual ack and a prefetch,
/// finds `"replyTo"` and `"correlationId"` in each JSON body by a byte scan (no JSON model, no executor, no
/// allocation per message), publishes a minimal ZStack reply to `exchange` with routing key = replyTo, and acks with
/// `multiple` in batches. With `confirmReplies` the replies go out on a confirm-mode channel and a request is acked
/// only after the broker confirmed its reply — the same guarantee the worker gives, so reliable-mode runs compare
/// like with like. With `mandatoryReplies`, `echoPayload` and `mirrorDeliveryMode` as well it is guarantee-matched
/// to the worker: same reply size, same publish flags, same confirm-before-ack (`cloudbus-bench` runs it so as
/// `null-confirm`, in its own process: the hidden `null-responder` subcommand).
///
/// What it deliberately does not do, so nobody mistakes it for a worker: no reconnect (a lost connection ends it
/// with an error, reported by `stop()`), no redelivery handling, no deadlines, no JSON unescaping (the scanned
/// values are taken verbatim; ZStack ids and queue names contain no escapes), and a broker `basic.nack` of a reply
/// ends it too. Requests without both fields are acked unanswered and counted.
public final class NullResponder: Sendable {
    public struct Options: Sendable, Equatable {
        /// The queue to consume; declared here and bound to `exchange` with its own name, as ZStack does.
        public var queue: String
        /// Where replies go (and what the queue is bound to). Default: `P2P`; it must already exist.
        public var exchange: String
        /// Unacked deliveries the broker may push at once. Default: 256, the worker's default.
        public var prefetch: UInt16
        /// Durable queue (reliable mode) instead of a non-durable auto-delete one. Default: false.
        public var durableQueue: Bool
        /// Publish replies in confirm mode and ack each request only after its reply is confirmed. Default: false.
        public var confirmReplies: Bool
        /// Acks are sent as one `multiple` ack when this many are ready or the socket has nothing more to read.
        /// Default: a tenth of the prefetch (the interval RabbitMQ's own studies found best), at least 1.
        public var ackBatch: Int
        /// Publish replies `mandatory`, as the worker does (a returned reply is counted and dropped). Default: false.
        public var mandatoryReplies: Bool
        /// Reply with an `EchoReply` carrying the request's `payload`, shaped like the worker's, so the reply is as
        /// large as the worker's; otherwise a minimal 151-byte `MessageReply`. Default: false.
        public var echoPayload: Bool
        /// Publish a reply with the request's delivery mode (the worker answers a persistent request with a
        /// persistent reply); otherwise always transient. Default: false.
        public var mirrorDeliveryMode: Bool

        public init(queue: String, exchange: String = "P2P", prefetch: UInt16 = 256, durableQueue: Bool = false,
                    confirmReplies: Bool = false, ackBatch: Int? = nil, mandatoryReplies: Bool = false,
                    echoPayload: Bool = false, mirrorDeliveryMode: Bool = false) {
            self.queue = queue
            self.exchange = exchange
            self.prefetch = prefetch
            self.durableQueue = durableQueue
            self.confirmReplies = confirmReplies
            self.ackBatch = max(1, ackBatch ?? Int(prefetch) / 10)
            self.mandatoryReplies = mandatoryReplies
            self.echoPayload = echoPayload
            self.mirrorDeliveryMode = mirrorDeliveryMode
        }
    }

    /// Counters, readable from any thread while it runs.
    public struct Statistics: Sendable, Equatable {
        /// Requests answered with a reply.
        public var answered: Int
        /// Requests acked without a reply (no `replyTo` or no `correlationId` in the body).
        public var unanswerable: Int
        /// `basic.ack` frames sent (each may cover many deliveries).
        public var ackFrames: Int
        /// Deliveries those frames acknowledged.
        public var acknowledged: Int
        /// Mandatory replies the broker returned as unroutable.
        public var returned: Int = 0
    }

    public let configuration: AMQPConfiguration
    public let options: Options

    private let stopRequested = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let answered = Atomic<Int>(0)
    private let unanswerable = Atomic<Int>(0)
    private let ackFrames = Atomic<Int>(0)
    private let acknowledged = Atomic<Int>(0)
    private let returned = Atomic<Int>(0)
    /// The thread's CPU clock (`pthread_getcpuclockid`; Linux encodes these as negative ids), valid while
    /// `cpuClockValid` is true.
    private let cpuClock = Atomic<Int32>(0)
    private let cpuClockValid = Atomic<Bool>(false)
    /// CPU time the thread used, in nanoseconds, frozen when it exits.
    private let finalCPUNanoseconds = Atomic<Int>(0)
    private let exit = Mutex<ExitState>(ExitState())

    private struct ExitState {
        var finished = false
        var error: AMQPError?
        var waiters: [CheckedContinuation<AMQPError?, Never>] = []
    }

    public init(configuration: AMQPConfiguration, options: Options) {
        self.configuration = configuration
        self.options = options
    }

    /// Connects, declares and binds the queue, subscribes, and returns once deliveries can flow.
    /// - Throws: the connect, declare or consume failure; the thread is then already gone.
    public func start() async throws(AMQPError) {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            let thread = Thread { [self] in serve { continuation.resume(returning: $0) } }
            thread.name = "null-responder"
            thread.start()
        }
        try result.get()
    }

    /// Asks the thread to send its pending acks, close the connection and exit; returns when it has.
    /// - Returns: the error that ended it early (lost connection, channel closed, reply nacked, failed start), or
    ///   nil. Nil at once if `start()` was never called.
    @discardableResult
    public func stop() async -> AMQPError? {
        guard started.load(ordering: .relaxed) else { return nil }
        stopRequested.store(true, ordering: .relaxed)
        return await withCheckedContinuation { continuation in
            let finishedError: AMQPError?? = exit.withLock { state in
                guard state.finished else {
                    state.waiters.append(continuation)
                    return .none
                }
                return .some(state.error)
            }
            if let finishedError { continuation.resume(returning: finishedError) }
        }
    }

    /// The error that ended the thread by itself (lost connection, channel closed, nacked reply); nil while it
    /// runs or after a clean stop.
    public var endedError: AMQPError? { exit.withLock { $0.finished ? $0.error : nil } }

    public var statistics: Statistics {
        Statistics(answered: answered.load(ordering: .relaxed), unanswerable: unanswerable.load(ordering: .relaxed),
                   ackFrames: ackFrames.load(ordering: .relaxed), acknowledged: acknowledged.load(ordering: .relaxed),
                   returned: returned.load(ordering: .relaxed))
    }

    /// CPU time the responder thread has used so far (user + system), for cost-per-request figures.
    public var cpuTime: Duration {
        if cpuClockValid.load(ordering: .acquiring) {
            let clock = cpuClock.load(ordering: .relaxed)
            var now = timespec()
            if clock_gettime(clock, &now) == 0 { return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec) }
        }
        return .nanoseconds(finalCPUNanoseconds.load(ordering: .acquiring))
    }

    // MARK: The thread

    private func serve(_ reportStart: @Sendable (Result<Void, AMQPError>) -> Void) {
        let session: RabbitSession
        do {
            session = try RabbitSession(configuration: configuration)
            try session.declare(QueueDeclaration(name: options.queue, durable: options.durableQueue,
                                                 autoDelete: !options.durableQueue))
            try session.bind(QueueBinding(queue: options.queue, exchange: options.exchange, routingKey: options.queue))
            try session.qos(prefetch: options.prefetch)
            try session.consume(queue: options.queue, consumerTag: "null-responder", noAck: false)
        } catch {
            reportStart(.failure(error))
            finish(error)
            return
        }
        var clock = clockid_t()
        if pthread_getcpuclockid(pthread_self(), &clock) == 0 {
            cpuClock.store(clock, ordering: .relaxed)
            cpuClockValid.store(true, ordering: .releasing)
        }
        reportStart(.success(()))

        var loop = ReplyLoop(session: session, options: options, responder: self)
        let failure = loop.run(until: stopRequested)
        if failure == nil { session.close() } else { session.abandon() }

        var spent = timespec()
        if clock_gettime(clock, &spent) == 0 {
            finalCPUNanoseconds.store(Int(spent.tv_sec) * 1_000_000_000 + Int(spent.tv_nsec), ordering: .releasing)
        }
        cpuClockValid.store(false, ordering: .releasing)
        finish(failure)
    }

    private func finish(_ error: AMQPError?) {
        let waiters = exit.withLock { state in
            state.finished = true
            state.error = error
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: error) }
    }

    fileprivate func count(answered didAnswer: Bool) {
        if didAnswer { answered.add(1, ordering: .relaxed) } else { unanswerable.add(1, ordering: .relaxed) }
    }

    fileprivate func countReturned() { returned.add(1, ordering: .relaxed) }

    fileprivate func countAckFrame(covering deliveries: Int) {
        ackFrames.add(1, ordering: .relaxed)
        acknowledged.add(deliveries, ordering: .relaxed)
    }
}

/// The responder's frame loop. Confined to the responder thread with its session.
private struct ReplyLoop {
    private let session: RabbitSession
    private let responder: NullResponder
    private let confirm: Bool
    private let ackBatch: Int
    private let mandatory: Bool
    private let echoPayload: Bool
    private let mirrorDeliveryMode: Bool
    /// Replies go on the confirm-mode channel only when confirming; otherwise on the consume channel, which is
    /// not in confirm mode, so the broker sends no confirms nobody reads.
    private let replyChannel: amqp_channel_t
    private let exchange: UnsafeMutablePointer<CChar>

    // The message being assembled (bodies may span frames; ours never do, but the loop must not care).
    private var body: [UInt8] = []
    private var expectedBodySize = 0
    private var deliveryTag: UInt64 = 0
    private var deliveryMode: UInt8 = 1
    /// A `basic.return` came: its header and body frames are a returned reply, not a request.
    private var discardingReturn = false
    private var reply: [UInt8] = []

    // Acks ready to send: everything up to `ackableTag` (tags are handled in delivery order).
    private var ackableTag: UInt64 = 0
    private var ackableCount = 0

    // Confirm mode: publish sequence numbers and the request each reply answers.
    private var publishedSequence: UInt64 = 0
    private var confirmedThrough: UInt64 = 0
    private var confirmedOutOfOrder: Set<UInt64> = []
    private var awaitingConfirm: [(sequence: UInt64, tag: UInt64)] = []
    private var awaitingHead = 0

    private static let replyPrefix = Array(
        #"{"org.zstack.header.message.MessageReply":{"success":true,"headers":{"isReply":"true","correlationId":""#.utf8)
    private static let replySuffix = Array(#"","schema":{}}}}"#.utf8)
    private static let replyToKey = Array(#""replyTo""#.utf8)
    private static let correlationIdKey = Array(#""correlationId""#.utf8)
    private static let payloadKey = Array(#""payload""#.utf8)

    // The worker's EchoReply, field for field in its order (captured from `cloudbus-worker run`): the payload,
    // correlationId and serviceId (= replyTo) are copied in; the reply's own id and createdTime are fixed values of
    // the same length, so the reply is byte for byte as long as the worker's (501 bytes for a 200-byte payload).
    private static let echoPrefix = Array(#"{"cloudbus.worker.EchoReply":{"payload":""#.utf8)
    private static let echoAfterPayload = Array(#"","success":true,"canceled":false,"headers":{"correlationId":""#.utf8)
    private static let echoAfterCorrelation = Array(
        #"","isReply":"true","schema":{},"task-context":{}},"id":"00000000000000000000000000000000","serviceId":""#.utf8)
    private static let echoSuffix = Array(#"","createdTime":1700000000000}}"#.utf8)

    init(session: RabbitSession, options: NullResponder.Options, responder: NullResponder) {
        self.session = session
        self.responder = responder
        confirm = options.confirmReplies
        ackBatch = options.ackBatch
        mandatory = options.mandatoryReplies
        echoPayload = options.echoPayload
        mirrorDeliveryMode = options.mirrorDeliveryMode
        replyChannel = options.confirmReplies ? RabbitSession.publishChannel : RabbitSession.consumeChannel
        exchange = strdup(options.exchange)
        body.reserveCapacity(64 * 1024)
        reply.reserveCapacity(1024)
        awaitingConfirm.reserveCapacity(Int(options.prefetch) * 2)
    }

    mutating func run(until stop: borrowing Atomic<Bool>) -> AMQPError? {
        defer { free(exchange) }
        do throws(AMQPError) {
            while !stop.load(ordering: .relaxed) {
                let buffered = session.hasBufferedInput
                if !buffered {
                    // About to wait on the socket: everything handled so far gets its ack now.
                    try flushAcks()
                    session.releaseBuffers()
                }
                var frame = amqp_frame_t()
                var wait = buffered ? timeval(tv_sec: 0, tv_usec: 0) : timeval(tv_sec: 0, tv_usec: 100_000)
                let status = amqp_simple_wait_frame_noblock(session.state, &frame, &wait)
                if status == AMQP_STATUS_TIMEOUT.rawValue { continue }
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError.connectionLost(reason: RabbitSession.statusText(status))
                }
                try handle(frame)
            }
            try flushAcks()
            return nil
        } catch {
            return error
        }
    }

    private mutating func handle(_ frame: amqp_frame_t) throws(AMQPError) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            try handleMethod(frame.payload.method, channel: frame.channel)
        case AMQP_FRAME_HEADER:
            guard !discardingReturn, frame.channel == RabbitSession.consumeChannel else { return }
            expectedBodySize = Int(frame.payload.properties.body_size)
            deliveryMode = 1
            if mirrorDeliveryMode, let decoded = frame.payload.properties.decoded {
                let properties = decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee
                if properties._flags & cloudbus_flag_delivery_mode != 0 { deliveryMode = properties.delivery_mode }
            }
            body.removeAll(keepingCapacity: true)
            if expectedBodySize == 0 { try answer() }
        case AMQP_FRAME_BODY:
            guard !discardingReturn, frame.channel == RabbitSession.consumeChannel else { return }
            let fragment = frame.payload.body_fragment
            if fragment.len > 0, let bytes = fragment.bytes {
                body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: fragment.len))
            }
            if body.count >= expectedBodySize { try answer() }
        default:
            break
        }
    }

    private mutating func handleMethod(_ method: amqp_method_t, channel: amqp_channel_t) throws(AMQPError) {
        guard let decoded = method.decoded else { return }
        switch method.id {
        case MethodID.basicDeliver:
            deliveryTag = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee.delivery_tag
            discardingReturn = false
        case MethodID.basicReturn:
            // An unroutable mandatory reply (its requester's inbox is gone); its content frames follow on the reply
            // channel. Only when that is the consume channel do they need telling apart from a request's.
            if channel == RabbitSession.consumeChannel { discardingReturn = true }
            responder.countReturned()
        case MethodID.basicAck:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            try confirmed(upTo: ack.delivery_tag, multiple: ack.multiple != 0)
        case MethodID.basicNack:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            throw .publishNacked(deliveryTag: nack.delivery_tag)
        case MethodID.basicCancel:
            throw .connectionLost(reason: "broker cancelled the null responder's consumer")
        case MethodID.channelClose, MethodID.connectionClose:
            if let error = session.brokerClose(method, channel: channel,
                                               channelOperation: "null responder channel \(channel)",
                                               connectionOperation: "null responder") {
                throw error
            }
        default:
            break
        }
    }

    /// The request is complete in `body`: reply if it says where, then make its ack due (now, or on confirm).
    private mutating func answer() throws(AMQPError) {
        let tag = deliveryTag
        let fields = body.withUnsafeBytes { raw in
            (Self.stringValue(of: Self.replyToKey, in: raw), Self.stringValue(of: Self.correlationIdKey, in: raw),
             echoPayload ? Self.stringValue(of: Self.payloadKey, in: raw) : nil)
        }
        guard let replyTo = fields.0, let correlationId = fields.1 else {
            responder.count(answered: false)
            if confirm { awaitingConfirm.append((publishedSequence, tag)); try releaseConfirmed() } else { try ackable(tag) }
            return
        }
        Self.compose(into: &reply, request: body, replyTo: replyTo, correlationId: correlationId,
                     payload: echoPayload ? fields.2 ?? 0..<0 : nil)

        var properties = amqp_basic_properties_t()
        properties._flags = cloudbus_flag_delivery_mode
        properties.delivery_mode = deliveryMode
        let status = body.withUnsafeBytes { raw in
            reply.withUnsafeBytes { replyRaw in
                let routingKey = amqp_bytes_t(len: replyTo.count,
                                              bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress! + replyTo.lowerBound))
                let content = amqp_bytes_t(len: replyRaw.count, bytes: UnsafeMutableRawPointer(mutating: replyRaw.baseAddress))
                return amqp_basic_publish(session.state, replyChannel, amqp_cstring_bytes(exchange), routingKey,
                                          mandatory ? 1 : 0, 0, &properties, content)
            }
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .library(operation: "basic.publish (null responder)", status: status,
                           message: RabbitSession.statusText(status))
        }
        responder.count(answered: true)
        if confirm {
            publishedSequence += 1
            awaitingConfirm.append((publishedSequence, tag))
        } else {
            try ackable(tag)
        }
    }

    /// The reply to `request`: an EchoReply echoing `payload` when given, else the minimal MessageReply.
    static func compose(into reply: inout [UInt8], request: [UInt8], replyTo: Range<Int>, correlationId: Range<Int>,
                        payload: Range<Int>?) {
        reply.removeAll(keepingCapacity: true)
        if let payload {
            reply.append(contentsOf: echoPrefix)
            reply.append(contentsOf: request[payload])
            reply.append(contentsOf: echoAfterPayload)
            reply.append(contentsOf: request[correlationId])
            reply.append(contentsOf: echoAfterCorrelation)
            reply.append(contentsOf: request[replyTo])
            reply.append(contentsOf: echoSuffix)
        } else {
            reply.append(contentsOf: replyPrefix)
            reply.append(contentsOf: request[correlationId])
            reply.append(contentsOf: replySuffix)
        }
    }

    private mutating func ackable(_ tag: UInt64) throws(AMQPError) {
        ackableTag = tag
        ackableCount += 1
        if ackableCount >= ackBatch { try flushAcks() }
    }

    private mutating func flushAcks() throws(AMQPError) {
        guard ackableTag != 0 else { return }
        let status = amqp_basic_ack(session.state, RabbitSession.consumeChannel, ackableTag, 1)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .library(operation: "basic.ack (null responder)", status: status, message: RabbitSession.statusText(status))
        }
        responder.countAckFrame(covering: ackableCount)
        ackableTag = 0
        ackableCount = 0
    }

    private mutating func confirmed(upTo sequence: UInt64, multiple: Bool) throws(AMQPError) {
        if multiple {
            confirmedThrough = max(confirmedThrough, sequence)
        } else if sequence == confirmedThrough + 1 {
            confirmedThrough = sequence
        } else if sequence > confirmedThrough {
            confirmedOutOfOrder.insert(sequence)
        }
        if !confirmedOutOfOrder.isEmpty {
            while confirmedOutOfOrder.remove(confirmedThrough + 1) != nil { confirmedThrough += 1 }
            confirmedOutOfOrder = confirmedOutOfOrder.filter { $0 > confirmedThrough }
        }
        try releaseConfirmed()
    }

    /// Requests whose replies (and all earlier ones) are confirmed become ackable, in delivery order.
    private mutating func releaseConfirmed() throws(AMQPError) {
        while awaitingHead < awaitingConfirm.count, awaitingConfirm[awaitingHead].sequence <= confirmedThrough {
            let tag = awaitingConfirm[awaitingHead].tag
            awaitingHead += 1
            try ackable(tag)
        }
        if awaitingHead == awaitingConfirm.count {
            awaitingConfirm.removeAll(keepingCapacity: true)
            awaitingHead = 0
        } else if awaitingHead > 4096 {
            awaitingConfirm.removeFirst(awaitingHead)
            awaitingHead = 0
        }
    }

    /// The byte range of the string value of the first `"key"` in a JSON text: `"key"`, optional blanks, `:`,
    /// optional blanks, `"…"`. Nil when absent or not a string. Escapes are not interpreted (see the type's doc).
    static func stringValue(of key: [UInt8], in text: UnsafeRawBufferPointer) -> Range<Int>? {
        guard let base = text.baseAddress, let keyStart = NullResponder.firstOccurrence(of: key, in: text) else { return nil }
        var index = keyStart + key.count
        func skipBlanks() {
            while index < text.count, text[index] == 0x20 || text[index] == 0x09 || text[index] == 0x0A || text[index] == 0x0D {
                index += 1
            }
        }
        skipBlanks()
        guard index < text.count, text[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        skipBlanks()
        guard index < text.count, text[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        guard start <= text.count,
              let end = memchr(base + start, Int32(UInt8(ascii: "\"")), text.count - start)
        else { return nil }
        return start..<base.distance(to: UnsafeRawPointer(end))
    }
}

extension NullResponder {
    /// The scan the responder uses, exposed for tests and the bench client: the verbatim string value of the
    /// first `"key"` in `json`, or nil.
    public static func scanStringValue(of key: String, in json: [UInt8]) -> String? {
        let needle = Array("\"\(key)\"".utf8)
        return json.withUnsafeBytes { raw in
            ReplyLoop.stringValue(of: needle, in: raw).map { String(decoding: raw[$0], as: UTF8.self) }
        }
    }

    /// The reply the responder would publish for `request` (nil when it would leave it unanswered), for tests.
    public static func reply(to request: [UInt8], echoPayload: Bool) -> [UInt8]? {
        let fields = request.withUnsafeBytes { raw in
            (ReplyLoop.stringValue(of: Array(#""replyTo""#.utf8), in: raw),
             ReplyLoop.stringValue(of: Array(#""correlationId""#.utf8), in: raw),
             ReplyLoop.stringValue(of: Array(#""payload""#.utf8), in: raw))
        }
        guard let replyTo = fields.0, let correlationId = fields.1 else { return nil }
        var reply: [UInt8] = []
        ReplyLoop.compose(into: &reply, request: request, replyTo: replyTo, correlationId: correlationId,
                          payload: echoPayload ? fields.2 ?? 0..<0 : nil)
        return reply
    }

    /// Offset of the first occurrence of `needle` in `text` (memchr for its first byte, then memcmp; memmem is
    /// not visible through Swift's Glibc module).
    public static func firstOccurrence(of needle: [UInt8], in text: UnsafeRawBufferPointer) -> Int? {
        guard let base = text.baseAddress, let first = needle.first, text.count >= needle.count else { return nil }
        return needle.withUnsafeBytes { pattern -> Int? in
            var offset = 0
            let lastStart = text.count - needle.count
            while offset <= lastStart {
                guard let hit = memchr(base + offset, Int32(first), lastStart - offset + 1) else { return nil }
                let position = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + position, pattern.baseAddress!, needle.count) == 0 { return position }
                offset = position + 1
            }
            return nil
        }
    }
}
