import CRabbitMQ
import CRabbitMQShim
import Glibc
import Primitives

/// AMQP method ids this module reacts to (rabbitmq-c defines them as casting macros Swift cannot import).
@_spi(RawSession) public enum MethodID {
    @_spi(RawSession) public static let connectionClose: amqp_method_number_t = 0x000A_0032
    @_spi(RawSession) public static let connectionCloseOk: amqp_method_number_t = 0x000A_0033
    @_spi(RawSession) public static let connectionBlocked: amqp_method_number_t = 0x000A_003C
    @_spi(RawSession) public static let connectionUnblocked: amqp_method_number_t = 0x000A_003D
    @_spi(RawSession) public static let channelClose: amqp_method_number_t = 0x0014_0028
    @_spi(RawSession) public static let channelCloseOk: amqp_method_number_t = 0x0014_0029
    @_spi(RawSession) public static let basicCancel: amqp_method_number_t = 0x003C_001E
    @_spi(RawSession) public static let basicReturn: amqp_method_number_t = 0x003C_0032
    @_spi(RawSession) public static let basicDeliver: amqp_method_number_t = 0x003C_003C
    @_spi(RawSession) public static let basicAck: amqp_method_number_t = 0x003C_0050
    @_spi(RawSession) public static let basicNack: amqp_method_number_t = 0x003C_0078
}

/// One live rabbitmq-c connection: socket, login, the consume channel and the confirm-mode publish
/// channel. Not thread-safe, like the library: only the connection's owner thread touches it.
/// The C state is freed in `deinit`.
///
/// Outside this module it is SPI (`@_spi(RawSession) import AMQP`): the raw single-thread session for baselines
/// that want rabbitmq-c's own speed without the owner thread (the bench's null responder), not for the worker.
@_spi(RawSession) public final class RabbitSession {
    /// Deliveries, acks and topology declarations.
    @_spi(RawSession) public static let consumeChannel: amqp_channel_t = 1
    /// Publishes in confirm mode; a publish error here never disturbs consumption.
    @_spi(RawSession) public static let publishChannel: amqp_channel_t = 2

    @_spi(RawSession) public let state: amqp_connection_state_t
    let socketDescriptor: Int32
    let negotiatedHeartbeatSeconds: Int
    private let arena = CArena()
    private var open = true
    /// Publishes and acks as frames, written together by ``flushQueued(waiting:)``: one `send` per loop pass instead
    /// of one per frame (rabbitmq-c writes a publish as three). Plain TCP only: a TLS session's bytes must go through
    /// its `SSL` object, so there every frame goes through rabbitmq-c as it is queued.
    let writesDirectly: Bool
    // Unchecked exclusivity: the session is its owner thread's (or a borrowed pass's, under the owner lock), and every
    // frame appended would otherwise pay a dynamic access check.
    @exclusivity(unchecked) private var queued = OutputBytes(capacity: RabbitSession.queuedInitialCapacity)
    /// Bytes of `queued` already written (a write that the socket took only in part).
    @exclusivity(unchecked) private var queuedWritten = 0
    /// The negotiated frame size limit: bodies are split into frames of at most this, less the frame's 8 bytes.
    private var frameMax = 131_072

    /// Connects to the configuration's first endpoint.
    @_spi(RawSession) public convenience init(configuration: AMQPConfiguration) throws(AMQPError) {
        try self.init(configuration: configuration,
                      endpoint: AMQPConfiguration.Endpoint(host: configuration.host, port: configuration.port))
    }

    /// Connects to `endpoint` (one of a cluster's) with the configuration's credentials, vhost and TLS settings;
    /// a failure to connect or log in is ``AMQPError/connectFailed(host:port:reason:)`` naming that endpoint.
    @_spi(RawSession) public init(configuration: AMQPConfiguration, endpoint: AMQPConfiguration.Endpoint)
        throws(AMQPError)
    {
        guard let state = amqp_new_connection() else {
            throw .library(operation: "amqp_new_connection", status: -1, message: "out of memory")
        }
        self.state = state
        let fail: (String) -> AMQPError = { reason in
            .connectFailed(host: endpoint.host, port: endpoint.port, reason: reason)
        }
        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { amqp_destroy_connection(state); throw fail("cannot create TLS socket") }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            if let ca = tls.caCertificatePath, amqp_ssl_socket_set_cacert(socket, ca) != AMQP_STATUS_OK.rawValue {
                amqp_destroy_connection(state)
                throw fail("cannot load CA certificate \(ca)")
            }
            if let cert = tls.clientCertificatePath, let key = tls.clientKeyPath,
               amqp_ssl_socket_set_key(socket, cert, key) != AMQP_STATUS_OK.rawValue {
                amqp_destroy_connection(state)
                throw fail("cannot load client certificate \(cert) / key \(key)")
            }
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else { amqp_destroy_connection(state); throw fail("cannot create TCP socket") }
        }
        var timeout = timeval(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            amqp_destroy_connection(state)
            throw fail(Self.statusText(status))
        }
        _ = amqp_set_rpc_timeout(state, &timeout)
        _ = amqp_set_handshake_timeout(state, &timeout)
        self.socketDescriptor = amqp_get_sockfd(state)
        self.writesDirectly = configuration.tls == nil

        let heartbeatSeconds = Int32(configuration.heartbeat.components.seconds)
        let login = cloudbus_amqp_login_plain(state, configuration.virtualHost, 0, 131_072, heartbeatSeconds,
                                              configuration.user, configuration.password, configuration.connectionName)
        do {
            try Self.check(login, operation: "login", state: state)
        } catch {
            amqp_destroy_connection(state)
            throw fail("login as \(configuration.user) to vhost \(configuration.virtualHost): \(error)")
        }
        self.negotiatedHeartbeatSeconds = Int(amqp_get_heartbeat(state))
        self.frameMax = Int(amqp_get_frame_max(state))
        do {
            _ = amqp_channel_open(state, Self.consumeChannel)
            try Self.check(amqp_get_rpc_reply(state), operation: "channel.open", state: state)
            _ = amqp_channel_open(state, Self.publishChannel)
            try Self.check(amqp_get_rpc_reply(state), operation: "channel.open", state: state)
            _ = amqp_confirm_select(state, Self.publishChannel)
            try Self.check(amqp_get_rpc_reply(state), operation: "confirm.select", state: state)
        } catch {
            amqp_destroy_connection(state)
            throw fail("\(error)")
        }
    }

    deinit {
        if open { _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS) }
        amqp_destroy_connection(state)
    }

    /// Polite close; the broker requeues unacked deliveries.
    @_spi(RawSession) public func close() {
        guard open else { return }
        open = false
        _ = try? flushQueued(waiting: true)
        _ = amqp_channel_close(state, Self.publishChannel, AMQP_REPLY_SUCCESS)
        _ = amqp_channel_close(state, Self.consumeChannel, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }

    /// After a socket error the connection cannot be closed politely.
    @_spi(RawSession) public func abandon() { open = false }

    // MARK: Topology

    @_spi(RawSession) public func declare(_ exchange: ExchangeDeclaration) throws(AMQPError) {
        defer { arena.reset() }
        try flushBeforeLibraryCall()
        _ = amqp_exchange_declare(state, Self.consumeChannel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue),
                                  exchange.passive ? 1 : 0, exchange.durable ? 1 : 0, exchange.autoDelete ? 1 : 0, 0,
                                  arena.table(exchange.arguments))
        try Self.check(amqp_get_rpc_reply(state), operation: "exchange.declare \(exchange.name)", state: state)
    }

    @_spi(RawSession) public func declare(_ queue: QueueDeclaration) throws(AMQPError) {
        defer { arena.reset() }
        try flushBeforeLibraryCall()
        _ = amqp_queue_declare(state, Self.consumeChannel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0,
                               queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0, arena.table(queue.arguments))
        try Self.check(amqp_get_rpc_reply(state), operation: "queue.declare \(queue.name)", state: state)
    }

    @_spi(RawSession) public func bind(_ binding: QueueBinding) throws(AMQPError) {
        defer { arena.reset() }
        try flushBeforeLibraryCall()
        _ = amqp_queue_bind(state, Self.consumeChannel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                            arena.bytes(binding.routingKey), amqp_empty_table)
        try Self.check(amqp_get_rpc_reply(state),
                       operation: "queue.bind \(binding.queue) to \(binding.exchange) by \(binding.routingKey)", state: state)
    }

    /// Deletes a queue whether or not it has consumers or messages (nothing to do when it does not exist).
    @_spi(RawSession) public func deleteQueue(_ name: String) throws(AMQPError) {
        defer { arena.reset() }
        try flushBeforeLibraryCall()
        _ = amqp_queue_delete(state, Self.consumeChannel, arena.bytes(name), 0, 0)
        try Self.check(amqp_get_rpc_reply(state), operation: "queue.delete \(name)", state: state)
    }

    /// Deletes queues by name on a connection of their own, closed after (cleanup of queues that outlive their users:
    /// the bench's responders, tests' stopped workers). Blocks the caller for one connect plus a round trip per queue.
    @_spi(RawSession) public static func deleteQueues(_ names: [String], configuration: AMQPConfiguration)
        throws(AMQPError)
    {
        let session = try RabbitSession(configuration: configuration)
        defer { session.close() }
        for name in names { try session.deleteQueue(name) }
    }

    @_spi(RawSession) public func qos(prefetch: UInt16) throws(AMQPError) {
        try flushBeforeLibraryCall()
        _ = amqp_basic_qos(state, Self.consumeChannel, 0, prefetch, 0)
        try Self.check(amqp_get_rpc_reply(state), operation: "basic.qos", state: state)
    }

    @_spi(RawSession) public func consume(queue: String, consumerTag: String, noAck: Bool, exclusive: Bool = false)
        throws(AMQPError)
    {
        defer { arena.reset() }
        try flushBeforeLibraryCall()
        _ = amqp_basic_consume(state, Self.consumeChannel, arena.bytes(queue), arena.bytes(consumerTag), 0,
                               noAck ? 1 : 0, exclusive ? 1 : 0, amqp_empty_table)
        try Self.check(amqp_get_rpc_reply(state), operation: "basic.consume \(queue)", state: state)
    }

    func cancel(consumerTag: String) throws(AMQPError) {
        defer { arena.reset() }
        try flushBeforeLibraryCall()
        _ = amqp_basic_cancel(state, Self.consumeChannel, arena.bytes(consumerTag))
        try Self.check(amqp_get_rpc_reply(state), operation: "basic.cancel \(consumerTag)", state: state)
    }

    // MARK: Publish and acknowledge

    /// Queues a publish on the publish channel (written by the next ``flushQueued(waiting:)``; at once over TLS).
    func queuePublish(_ message: OutgoingMessage, messageID: String?) throws(AMQPError) {
        defer { arena.reset() }
        var properties = amqp_basic_properties_t()
        var flags: amqp_flags_t = 0
        let p = message.properties
        if let mode = p.deliveryMode { properties.delivery_mode = mode; flags |= cloudbus_flag_delivery_mode }
        if let expiration = p.expiration { properties.expiration = arena.bytes(expiration); flags |= cloudbus_flag_expiration }
        if let id = messageID ?? p.messageID { properties.message_id = arena.bytes(id); flags |= cloudbus_flag_message_id }
        if let c = p.correlationID { properties.correlation_id = arena.bytes(c); flags |= cloudbus_flag_correlation_id }
        if let r = p.replyTo { properties.reply_to = arena.bytes(r); flags |= cloudbus_flag_reply_to }
        if let t = p.contentType { properties.content_type = arena.bytes(t); flags |= cloudbus_flag_content_type }
        if !p.headers.isEmpty { properties.headers = arena.table(p.headers); flags |= cloudbus_flag_headers }
        properties._flags = flags
        guard writesDirectly else {
            let status = message.body.withUnsafeBytes { raw -> Int32 in
                let body = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
                return amqp_basic_publish(state, Self.publishChannel, arena.bytes(message.exchange),
                                          arena.bytes(message.routingKey), message.mandatory ? 1 : 0, 0, &properties, body)
            }
            guard status == AMQP_STATUS_OK.rawValue else {
                throw .library(operation: "basic.publish", status: status, message: Self.statusText(status))
            }
            return
        }
        let rollback = queued.count
        do {
            var method = amqp_basic_publish_t(ticket: 0, exchange: arena.bytes(message.exchange),
                                              routing_key: arena.bytes(message.routingKey),
                                              mandatory: message.mandatory ? 1 : 0, immediate: 0)
            try appendMethod(Self.publishMethod, channel: Self.publishChannel, &method, operation: "basic.publish")
            try appendContentHeader(bodySize: message.body.count, &properties)
            message.body.withUnsafeBytes { body in
                let chunk = frameMax - 8
                var offset = 0
                while offset < body.count {
                    let count = min(chunk, body.count - offset)
                    appendFrameHeader(type: UInt8(AMQP_FRAME_BODY), channel: Self.publishChannel, size: count)
                    queued.append(UnsafeRawBufferPointer(rebasing: body[offset..<(offset + count)]))
                    queued.append(UInt8(AMQP_FRAME_END))
                    offset += count
                }
            }
        } catch {
            queued.removeSuffix(from: rollback)
            throw error
        }
    }

    /// Queues `basic.ack` on the consume channel (written by the next ``flushQueued(waiting:)``; at once over TLS).
    func queueAck(_ tag: UInt64, multiple: Bool) throws(AMQPError) {
        guard writesDirectly else {
            let status = amqp_basic_ack(state, Self.consumeChannel, tag, multiple ? 1 : 0)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw .library(operation: "basic.ack", status: status, message: Self.statusText(status))
            }
            return
        }
        var method = amqp_basic_ack_t(delivery_tag: tag, multiple: multiple ? 1 : 0)
        try appendMethod(Self.ackMethod, channel: Self.consumeChannel, &method, operation: "basic.ack")
    }

    /// Queues `basic.nack` on the consume channel (written by the next ``flushQueued(waiting:)``; at once over TLS).
    func queueNack(_ tag: UInt64, requeue: Bool) throws(AMQPError) {
        guard writesDirectly else {
            let status = amqp_basic_nack(state, Self.consumeChannel, tag, 0, requeue ? 1 : 0)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw .library(operation: "basic.nack", status: status, message: Self.statusText(status))
            }
            return
        }
        var method = amqp_basic_nack_t(delivery_tag: tag, multiple: 0, requeue: requeue ? 1 : 0)
        try appendMethod(Self.nackMethod, channel: Self.consumeChannel, &method, operation: "basic.nack")
    }

    /// Bytes queued and not yet written.
    var queuedBytes: Int { queued.count - queuedWritten }

    /// Writes the queued frames. `waiting: true` (the owner thread) waits for the socket like rabbitmq-c's own
    /// writes; `waiting: false` (a borrowed pass, which must never wait) stops when the socket takes no more and
    /// returns false, leaving the rest for the owner thread — whose next library call writes it first, so frames
    /// never interleave.
    @discardableResult
    func flushQueued(waiting: Bool) throws(AMQPError) -> Bool {
        while queuedWritten < queued.count {
            let written = queued.withBytes { bytes in
                send(socketDescriptor, bytes.baseAddress! + queuedWritten, bytes.count - queuedWritten,
                     Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                queuedWritten += written
                sendQueueBound? += written
                continue
            }
            let error = errno
            if written < 0 && error == EINTR { continue }
            guard written < 0 && (error == EAGAIN || error == EWOULDBLOCK) else {
                throw .connectionLost(reason: written == 0 ? "send wrote nothing" : "send failed: errno \(error)")
            }
            guard waiting else { return false }
            var descriptor = pollfd(fd: socketDescriptor, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, -1)
        }
        // The buffer is kept for the next pass, but not at the size of the largest message ever sent (a VM sync can
        // be megabytes): past 256 KiB it is given back.
        queued.removeAll(keepingCapacityUpTo: Self.queuedCapacityKept, initialCapacity: Self.queuedInitialCapacity)
        queuedWritten = 0
        return true
    }

    private static let queuedCapacityKept = 256 * 1024
    /// Room for a pass of acks and a few replies before the queue first grows.
    private static let queuedInitialCapacity = 16 * 1024

    /// rabbitmq-c writes on its own (RPCs, heartbeats from inside a frame read): what is queued goes first. Then
    /// what the call may write is added to ``sendQueueBound``: a frame read writes at most a heartbeat, anything
    /// else an unknown amount.
    private func flushBeforeLibraryCall(writing: LibraryWrite = .unknown) throws(AMQPError) {
        if queuedWritten < queued.count { try flushQueued(waiting: true) }
        switch writing {
        case .unknown: sendQueueBound = nil
        case .atMostAHeartbeat: sendQueueBound? += Self.heartbeatAllowance
        }
    }

    private enum LibraryWrite {
        case unknown
        case atMostAHeartbeat
    }

    /// A heartbeat frame is 8 bytes; the rest is margin.
    private static let heartbeatAllowance = 64

    // MARK: Frames

    private static let publishMethod: amqp_method_number_t = 0x003C_0028
    private static let ackMethod: amqp_method_number_t = 0x003C_0050
    private static let nackMethod: amqp_method_number_t = 0x003C_0078
    private static let basicClass: UInt16 = 60

    private func appendFrameHeader(type: UInt8, channel: amqp_channel_t, size: Int) {
        queued.append(type)
        appendBigEndian(UInt16(channel))
        appendBigEndian(UInt32(size))
    }

    private func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { queued.append($0) }
    }

    /// A method frame: the method number, then rabbitmq-c's own encoding of the arguments (`amqp_encode_method`).
    private func appendMethod<Method>(_ number: amqp_method_number_t, channel: amqp_channel_t, _ method: inout Method,
                                      operation: String) throws(AMQPError) {
        // Shortstrs are ≤ 255 bytes each: the publish method (two of them) is the largest here.
        let capacity = 1_024
        try appendFrame(type: UInt8(AMQP_FRAME_METHOD), channel: channel, capacity: capacity,
                        operation: operation) { payload in
            withUnsafeBytes(of: number.bigEndian) { payload.copyMemory(from: $0) }
            let encoded = amqp_bytes_t(len: payload.count - 4, bytes: payload.baseAddress! + 4)
            let status = withUnsafeMutablePointer(to: &method) { amqp_encode_method(number, $0, encoded) }
            return status < 0 ? status : status + 4
        }
    }

    /// A content header frame: class, weight, body size, then `amqp_encode_properties` (flags and values). Headers
    /// make its size unknown up front: tried in 1 KiB (ZStack's headers fit), then in a whole frame.
    private func appendContentHeader(bodySize: Int, _ properties: inout amqp_basic_properties_t) throws(AMQPError) {
        var lastError: AMQPError?
        for capacity in [1_024, frameMax - 8] {
            do {
                try appendFrame(type: UInt8(AMQP_FRAME_HEADER), channel: Self.publishChannel, capacity: capacity,
                                operation: "basic.publish properties") { payload in
                    withUnsafeBytes(of: Self.basicClass.bigEndian) { payload.copyMemory(from: $0) }
                    withUnsafeBytes(of: UInt16(0)) { (payload.baseAddress! + 2).copyMemory(from: $0.baseAddress!, byteCount: 2) }
                    withUnsafeBytes(of: UInt64(bodySize).bigEndian) {
                        (payload.baseAddress! + 4).copyMemory(from: $0.baseAddress!, byteCount: 8)
                    }
                    let encoded = amqp_bytes_t(len: payload.count - 12, bytes: payload.baseAddress! + 12)
                    let status = amqp_encode_properties(Self.basicClass, &properties, encoded)
                    return status < 0 ? status : status + 12
                }
                return
            } catch {
                lastError = error
            }
        }
        throw lastError!
    }

    /// Appends one frame whose payload `encode` writes into `capacity` bytes, returning its size or a negative
    /// rabbitmq-c status.
    private func appendFrame(type: UInt8, channel: amqp_channel_t, capacity: Int, operation: String,
                             _ encode: (UnsafeMutableRawBufferPointer) -> Int32) throws(AMQPError) {
        let start = queued.count
        appendFrameHeader(type: type, channel: channel, size: 0)
        // The payload is encoded straight into the buffer's spare room (no zero fill, nothing to cut back).
        var size: Int32 = 0
        queued.appendUninitialized(capacity: capacity) { payload in
            size = encode(payload)
            return Int(max(size, 0))
        }
        guard size >= 0 else {
            queued.removeSuffix(from: start)
            throw .library(operation: operation, status: size, message: Self.statusText(size))
        }
        queued.store(UInt32(size).bigEndian, at: start + 3)
        queued.append(UInt8(AMQP_FRAME_END))
    }

    /// Answers a broker-initiated close so the broker can release the channel or connection.
    @_spi(RawSession) public func acknowledgeClose(channel: amqp_channel_t, connection: Bool) {
        var empty: Int32 = 0
        sendQueueBound = nil
        _ = amqp_send_method(state, connection ? 0 : channel,
                             connection ? MethodID.connectionCloseOk : MethodID.channelCloseOk, &empty)
    }

    /// A `channel.close` or `connection.close` from the broker, answered (and, for the connection, the session
    /// abandoned: no polite close follows), as the error to end the caller's loop with; nil for any other method.
    /// The one reading of a broker's close for the owner thread and the bench's raw loops.
    @_spi(RawSession) public func brokerClose(_ method: amqp_method_t, channel: amqp_channel_t,
                                              channelOperation: @autoclosure () -> String,
                                              connectionOperation: @autoclosure () -> String) -> AMQPError? {
        guard let decoded = method.decoded else { return nil }
        switch method.id {
        case MethodID.channelClose:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            acknowledgeClose(channel: channel, connection: false)
            return .channelClosed(operation: channelOperation(), replyCode: close.reply_code,
                                  replyText: close.reply_text.string)
        case MethodID.connectionClose:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            acknowledgeClose(channel: 0, connection: true)
            abandon()
            return .connectionClosed(operation: connectionOperation(), replyCode: close.reply_code,
                                     replyText: close.reply_text.string)
        default:
            return nil
        }
    }

    // MARK: Frames

    /// The next complete frame without blocking, or nil when none is buffered or readable now.
    /// Also sends a heartbeat when one is due (rabbitmq-c does that inside its frame wait).
    func nextFrame() throws(AMQPError) -> amqp_frame_t? {
        try flushBeforeLibraryCall(writing: .atMostAHeartbeat)
        var frame = amqp_frame_t()
        var immediate = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &immediate)
        if status == AMQP_STATUS_OK.rawValue { return frame }
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        throw .connectionLost(reason: Self.statusText(status))
    }

    @_spi(RawSession) public var hasBufferedInput: Bool { amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 }

    @_spi(RawSession) public func releaseBuffers() { amqp_maybe_release_buffers(state) }

    /// The bytes a thread other than the owner may still queue for this socket now, with a wide margin, so writing them
    /// cannot block. rabbitmq-c writes a publish with no deadline: on a connection the broker stopped reading (a
    /// resource alarm, credit flow) the write waits until the broker reads again. The owner thread may wait there; a
    /// thread that runs publishes on its behalf (another connection's owner thread, which must keep acking and sending
    /// heartbeats) may not, so it asks first — once per pass: nothing it queues reaches the kernel before the pass's
    /// one write. The kernel counts buffer memory, not payload bytes (about twice the payload for small segments),
    /// hence a quarter of `SO_SNDBUF`, less what the kernel still holds. Zero when the socket cannot be asked.
    ///
    /// The buffer's size is asked once and kept (a syscall less per pass): the kernel only grows it as the socket is
    /// used, so a kept size understates the room; `refreshingSize` asks again (before a publish is deferred). The
    /// kernel's queue is asked only when ``sendQueueBound`` is unknown or past an eighth of the buffer: below that
    /// the bound's room is ample and at most what is really free (two `ioctl`s per echo at one request in flight
    /// otherwise, one before the reply and one before the confirm's read).
    func sendBufferRoom(refreshingSize: Bool = false) -> Int {
        let budget = Int(knownSendBufferSize) / 4
        if !refreshingSize, let bound = sendQueueBound, budget > 0, bound <= budget / 2 { return budget - bound }
        var queued: Int32 = 0
        guard ioctl(socketDescriptor, UInt(TIOCOUTQ), &queued) == 0 else { return 0 }
        if knownSendBufferSize == 0 || refreshingSize {
            var size: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(socketDescriptor, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 else { return 0 }
            knownSendBufferSize = size
        }
        // Over TLS rabbitmq-c writes everything itself, encrypted: nothing to count.
        sendQueueBound = writesDirectly ? Int(queued) : nil
        return max(0, Int(knownSendBufferSize) / 4 - Int(queued))
    }

    /// `SO_SNDBUF` as last asked (0: not yet); see ``sendBufferRoom(refreshingSize:)``.
    private var knownSendBufferSize: Int32 = 0

    /// At least as many bytes as the kernel's send queue holds: its length when last asked, plus everything written
    /// since (the queue grows only by this socket's writes; the broker's acks shrink it). Nil when rabbitmq-c may
    /// have written an amount this session cannot know (an RPC, a close's answer).
    private var sendQueueBound: Int?

    /// Whether a publish of `bodyBytes` still fits `room` (from ``sendBufferRoom()``) after what is queued here.
    func fits(publishOf bodyBytes: Int, in room: Int) -> Bool {
        queuedBytes + bodyBytes + Self.publishOverheadBytes <= room
    }

    /// Method and header frames of a publish, generously: exchange, routing key and properties with headers.
    private static let publishOverheadBytes = 2_048

    // MARK: Errors

    @_spi(RawSession) public static func statusText(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }

    @_spi(RawSession) public static func check(_ reply: amqp_rpc_reply_t, operation: String, state: amqp_connection_state_t) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw .library(operation: operation, status: reply.library_error, message: statusText(reply.library_error))
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == MethodID.connectionClose, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw .connectionClosed(operation: operation, replyCode: close.reply_code, replyText: close.reply_text.string)
            }
            if reply.reply.id == MethodID.channelClose, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                throw .channelClosed(operation: operation, replyCode: close.reply_code, replyText: close.reply_text.string)
            }
            throw .library(operation: operation, status: -1, message: "unexpected server method \(reply.reply.id)")
        default:
            throw .library(operation: operation, status: -1, message: "no RPC reply")
        }
    }
}

extension timeval {
    init(_ duration: Duration) {
        let micros = duration.inMicroseconds
        self.init(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
    }
}
