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
        _ = amqp_channel_close(state, Self.publishChannel, AMQP_REPLY_SUCCESS)
        _ = amqp_channel_close(state, Self.consumeChannel, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }

    /// After a socket error the connection cannot be closed politely.
    @_spi(RawSession) public func abandon() { open = false }

    // MARK: Topology

    @_spi(RawSession) public func declare(_ exchange: ExchangeDeclaration) throws(AMQPError) {
        defer { arena.reset() }
        _ = amqp_exchange_declare(state, Self.consumeChannel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue),
                                  exchange.passive ? 1 : 0, exchange.durable ? 1 : 0, exchange.autoDelete ? 1 : 0, 0,
                                  arena.table(exchange.arguments))
        try Self.check(amqp_get_rpc_reply(state), operation: "exchange.declare \(exchange.name)", state: state)
    }

    @_spi(RawSession) public func declare(_ queue: QueueDeclaration) throws(AMQPError) {
        defer { arena.reset() }
        _ = amqp_queue_declare(state, Self.consumeChannel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0,
                               queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0, arena.table(queue.arguments))
        try Self.check(amqp_get_rpc_reply(state), operation: "queue.declare \(queue.name)", state: state)
    }

    @_spi(RawSession) public func bind(_ binding: QueueBinding) throws(AMQPError) {
        defer { arena.reset() }
        _ = amqp_queue_bind(state, Self.consumeChannel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                            arena.bytes(binding.routingKey), amqp_empty_table)
        try Self.check(amqp_get_rpc_reply(state),
                       operation: "queue.bind \(binding.queue) to \(binding.exchange) by \(binding.routingKey)", state: state)
    }

    @_spi(RawSession) public func qos(prefetch: UInt16) throws(AMQPError) {
        _ = amqp_basic_qos(state, Self.consumeChannel, 0, prefetch, 0)
        try Self.check(amqp_get_rpc_reply(state), operation: "basic.qos", state: state)
    }

    @_spi(RawSession) public func consume(queue: String, consumerTag: String, noAck: Bool, exclusive: Bool = false)
        throws(AMQPError)
    {
        defer { arena.reset() }
        _ = amqp_basic_consume(state, Self.consumeChannel, arena.bytes(queue), arena.bytes(consumerTag), 0,
                               noAck ? 1 : 0, exclusive ? 1 : 0, amqp_empty_table)
        try Self.check(amqp_get_rpc_reply(state), operation: "basic.consume \(queue)", state: state)
    }

    func cancel(consumerTag: String) throws(AMQPError) {
        defer { arena.reset() }
        _ = amqp_basic_cancel(state, Self.consumeChannel, arena.bytes(consumerTag))
        try Self.check(amqp_get_rpc_reply(state), operation: "basic.cancel \(consumerTag)", state: state)
    }

    // MARK: Publish and acknowledge

    func publish(_ message: OutgoingMessage, messageID: String?) throws(AMQPError) {
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
        let status = message.body.withUnsafeBytes { raw -> Int32 in
            let body = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            return amqp_basic_publish(state, Self.publishChannel, arena.bytes(message.exchange),
                                      arena.bytes(message.routingKey), message.mandatory ? 1 : 0, 0, &properties, body)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .library(operation: "basic.publish", status: status, message: Self.statusText(status))
        }
    }

    func ack(_ tag: UInt64, multiple: Bool) throws(AMQPError) {
        let status = amqp_basic_ack(state, Self.consumeChannel, tag, multiple ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .library(operation: "basic.ack", status: status, message: Self.statusText(status))
        }
    }

    func nack(_ tag: UInt64, requeue: Bool) throws(AMQPError) {
        let status = amqp_basic_nack(state, Self.consumeChannel, tag, 0, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .library(operation: "basic.nack", status: status, message: Self.statusText(status))
        }
    }

    /// Answers a broker-initiated close so the broker can release the channel or connection.
    @_spi(RawSession) public func acknowledgeClose(channel: amqp_channel_t, connection: Bool) {
        var empty: Int32 = 0
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
        var frame = amqp_frame_t()
        var immediate = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &immediate)
        if status == AMQP_STATUS_OK.rawValue { return frame }
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        throw .connectionLost(reason: Self.statusText(status))
    }

    @_spi(RawSession) public var hasBufferedInput: Bool { amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 }

    @_spi(RawSession) public func releaseBuffers() { amqp_maybe_release_buffers(state) }

    /// Whether a publish of `bodyBytes` fits the socket's send buffer now with a wide margin, so writing it cannot
    /// block. rabbitmq-c writes a publish with no deadline: on a connection the broker stopped reading (a resource
    /// alarm, credit flow) the write waits until the broker reads again. The owner thread may wait there; a thread
    /// that runs publishes on its behalf (another connection's owner thread, which must keep acking and sending
    /// heartbeats) may not, so it asks first. The kernel counts buffer memory, not payload bytes (about twice the
    /// payload for small segments), hence a quarter of `SO_SNDBUF` for what is queued plus what comes.
    func hasSendRoom(forBody bodyBytes: Int) -> Bool {
        var queued: Int32 = 0
        guard ioctl(socketDescriptor, UInt(TIOCOUTQ), &queued) == 0 else { return false }
        var size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(socketDescriptor, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 else { return false }
        return Int(queued) + bodyBytes + Self.publishOverheadBytes <= Int(size) / 4
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
