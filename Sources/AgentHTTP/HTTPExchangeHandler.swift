import Foundation
import NIOCore
import NIOHTTP1

/// The pipeline end of an ``HTTPExchange``: writes the request once connected, gathers the response and reports
/// the outcome to the exchange. Anything short of a complete response ends the exchange with a transport error.
final class HTTPExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let exchange: HTTPExchange
    private var context: ChannelHandlerContext?
    private var status: Int?
    private var body: ByteBuffer?

    init(exchange: HTTPExchange) {
        self.exchange = exchange
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes head, body and end in one flush. Called by the exchange once the connection is up.
    func sendRequest() {
        guard let context else { return }
        let request = exchange.request
        var payload = context.channel.allocator.buffer(capacity: request.body.count)
        _ = request.body.withUnsafeBytes { payload.writeBytes($0) }

        var headers = HTTPHeaders()
        headers.reserveCapacity(5 + request.headers.count)
        headers.add(name: "Host", value: request.endpoint.description)
        if request.method == .POST { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(name: "Content-Length", value: String(payload.readableBytes))
        headers.add(name: "Connection", value: "close")
        for (name, value) in request.headers {
            headers.replaceOrAdd(name: name, value: value)
        }
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body(var part):
            if body == nil {
                body = part
            } else {
                body!.writeBuffer(&part)
            }
            if let body, body.readableBytes > exchange.maxResponseBytes {
                fail(.invalidResponse(
                    endpoint: exchange.request.endpoint, path: exchange.request.path,
                    reason: "body larger than \(exchange.maxResponseBytes) bytes"))
            }
        case .end:
            guard let status else { return }
            let data = body.map { $0.withUnsafeReadableBytes { Data($0) } } ?? Data()
            exchange.finish(.success(AgentHTTPResponse(status: status, body: data)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.connectionReset(endpoint: exchange.request.endpoint, path: exchange.request.path))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let request = exchange.request
        switch error {
        case is IOError:  // ECONNRESET, EPIPE, ...: the connection broke under us
            fail(.connectionReset(endpoint: request.endpoint, path: request.path))
        default:  // HTTPParserError and the like: the bytes are not a response we understand
            fail(.invalidResponse(endpoint: request.endpoint, path: request.path, reason: "\(error)"))
        }
    }

    private func fail(_ error: AgentHTTPError) {
        exchange.finish(.failure(error))
    }
}
