import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A complete HTTP request as an ``HTTPListener`` hands it over: the body fully read.
package struct ReceivedHTTPRequest: Sendable {
    package var method: String
    /// The path without the query string.
    package var path: String
    /// The headers as received; ``header(_:)`` reads one, ``headers`` spells them all out.
    package var rawHeaders: HTTPHeaders
    package var body: Data
    /// The body exceeded the listener's limit and was cut at the limit.
    package var bodyTooLarge: Bool

    /// The first value of header `name` (names compare case-insensitively). What the callback server reads per
    /// callback: two headers, without a dictionary of all of them.
    package func header(_ name: String) -> String? {
        rawHeaders.first(name: name)
    }

    /// Header names lower-cased; for repeated headers the first value wins (for the fakes' records).
    package var headers: [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in rawHeaders {
            let key = name.lowercased()
            if headers[key] == nil { headers[key] = value }
        }
        return headers
    }
}

/// What an ``HTTPListener`` does with a request.
package enum HTTPReaction: Sendable {
    /// Answer with this status and body (text/plain unless `contentType` says otherwise).
    case respond(status: Int, body: String, contentType: String = "text/plain; charset=utf-8")
    /// Close the connection without answering (the peer sees a reset/EOF).
    case closeConnection
    /// Never answer; the connection stays open until the peer or ``HTTPListener/close()`` closes it.
    case ignore
}

/// A minimal HTTP/1.1 server on SwiftNIO, shared by the ``CallbackServer`` and the test-support fake agents.
///
/// The `respond` closure runs on the connection's event loop once per complete request, in arrival order per
/// connection; it must not block. Keep-alive follows the request (`Connection: close` or HTTP/1.0 closes).
/// ``close()`` closes the listening socket and every open connection.
package final class HTTPListener: Sendable {
    package let localAddress: SocketAddress
    private let serverChannel: any Channel
    private let connections: Connections

    package var port: Int { localAddress.port ?? 0 }

    /// Binds and starts accepting.
    package static func bind(
        host: String,
        port: Int,
        eventLoopGroup: any EventLoopGroup,
        maxBodyBytes: Int,
        respond: @escaping @Sendable (ReceivedHTTPRequest) -> HTTPReaction
    ) async throws -> HTTPListener {
        let connections = Connections()
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                connections.insert(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPListenerHandler(maxBodyBytes: maxBodyBytes, respond: respond))
                }
            }
            .bind(host: host, port: port)
            .get()
        guard let address = channel.localAddress else {
            try? await channel.close()
            throw ChannelError.unknownLocalAddress
        }
        return HTTPListener(localAddress: address, serverChannel: channel, connections: connections)
    }

    private init(localAddress: SocketAddress, serverChannel: any Channel, connections: Connections) {
        self.localAddress = localAddress
        self.serverChannel = serverChannel
        self.connections = connections
    }

    /// Stops accepting and closes every open connection; returns when all are closed. Idempotent.
    package func close() async {
        beginClose()
        try? await serverChannel.closeFuture.get()
    }

    /// Starts closing the listener and every open connection without waiting (for synchronous contexts such as
    /// cancellation handlers). Idempotent.
    package func beginClose() {
        serverChannel.close(promise: nil)
        for channel in connections.closeAll() {
            channel.close(promise: nil)
        }
    }

    /// Returns when the listener has been closed (by ``close()``).
    package func waitUntilClosed() async {
        try? await serverChannel.closeFuture.get()
    }

    /// Open accepted connections, so that closing the listener can close them too.
    private final class Connections: Sendable {
        private let open = Mutex<(closed: Bool, channels: [ObjectIdentifier: any Channel])>((false, [:]))

        func insert(_ channel: any Channel) {
            let accepted = open.withLock { state in
                if state.closed { return false }
                state.channels[ObjectIdentifier(channel)] = channel
                return true
            }
            guard accepted else {
                channel.close(promise: nil)
                return
            }
            channel.closeFuture.whenComplete { [weak self] _ in
                self?.open.withLock { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
            }
        }

        func closeAll() -> [any Channel] {
            open.withLock { state in
                state.closed = true
                defer { state.channels = [:] }
                return Array(state.channels.values)
            }
        }
    }
}

/// Gathers one request at a time and applies the listener's reaction to it.
private final class HTTPListenerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxBodyBytes: Int
    private let respond: @Sendable (ReceivedHTTPRequest) -> HTTPReaction
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var bodyTooLarge = false

    init(maxBodyBytes: Int, respond: @escaping @Sendable (ReceivedHTTPRequest) -> HTTPReaction) {
        self.maxBodyBytes = maxBodyBytes
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = nil
            bodyTooLarge = false
        case .body(var part):
            let room = maxBodyBytes - (body?.readableBytes ?? 0)
            if part.readableBytes > room {
                bodyTooLarge = true
                part.moveWriterIndex(to: part.readerIndex + max(room, 0))
            }
            if body == nil {
                body = part
            } else {
                body!.writeBuffer(&part)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            handle(head: head, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)  // a broken connection: nothing more to answer on it
    }

    private func handle(head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
            ?? head.uri
        let request = ReceivedHTTPRequest(
            method: head.method.rawValue,
            path: path,
            rawHeaders: head.headers,
            body: body.map { $0.withUnsafeReadableBytes { Data($0) } } ?? Data(),
            bodyTooLarge: bodyTooLarge)
        body = nil

        switch respond(request) {
        case .respond(let status, let text, let contentType):
            var payload = context.channel.allocator.buffer(capacity: text.utf8.count)
            payload.writeString(text)
            var responseHeaders = HTTPHeaders()
            responseHeaders.add(name: "Content-Type", value: contentType)
            responseHeaders.add(name: "Content-Length", value: String(payload.readableBytes))
            let keepAlive = head.isKeepAlive
            if !keepAlive { responseHeaders.add(name: "Connection", value: "close") }
            let responseHead = HTTPResponseHead(
                version: head.version, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
            if keepAlive {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        case .closeConnection:
            context.close(promise: nil)
        case .ignore:
            break
        }
    }
}
