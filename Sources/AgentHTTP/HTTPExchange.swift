#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request/response exchange with an agent, from connect to the complete response.
///
/// Lives on one event loop: every method must be called there (the client reaches it through a `NIOLoopBoundBox`).
/// It completes its promise exactly once, whichever comes first of: the response, a connect or I/O failure, the
/// deadline, or cancellation; completing also cancels the deadline timer and closes the channel.
final class HTTPExchange {
    struct Request: Sendable {
        var method: HTTPMethod
        var endpoint: AgentEndpoint
        var path: String
        var headers: [String: String]
        var body: Data
        var connectTimeout: Duration
        /// The caller's whole budget, reported by ``AgentHTTPError/deadlineExceeded(endpoint:path:timeout:)``.
        var budget: Duration
    }

    let request: Request
    let maxResponseBytes: Int
    private let deadline: NIODeadline
    private let promise: EventLoopPromise<AgentHTTPResponse>
    private var channel: (any Channel)?
    private var deadlineTimer: Scheduled<Void>?
    private var finished = false

    init(request: Request, deadline: NIODeadline, promise: EventLoopPromise<AgentHTTPResponse>, maxResponseBytes: Int) {
        self.request = request
        self.deadline = deadline
        self.promise = promise
        self.maxResponseBytes = maxResponseBytes
    }

    private var eventLoop: any EventLoop { promise.futureResult.eventLoop }

    /// Connects and sends. This is the seam for connection reuse: a pool would hand over an idle channel here
    /// instead of bootstrapping one, and `finish` would return it instead of closing it.
    func start() {
        eventLoop.preconditionInEventLoop()
        guard !finished else { return }
        let request = self.request
        deadlineTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            finish(.failure(AgentHTTPError.deadlineExceeded(
                endpoint: request.endpoint, path: request.path, timeout: request.budget)))
        }

        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(request.connectTimeout))
            .channelInitializer { channel in
                let exchange = bound.value
                exchange.channelCreated(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPExchangeHandler(exchange: exchange))
                }
            }

        let connected: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: request.endpoint.host, port: request.endpoint.port) {
            connected = bootstrap.connect(to: address)  // IP literal: no resolver round trip
        } else {
            connected = bootstrap.connect(host: request.endpoint.host, port: request.endpoint.port)
        }
        connected.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                guard !finished else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                do {
                    try channel.pipeline.syncOperations.handler(type: HTTPExchangeHandler.self).sendRequest()
                } catch {
                    finish(.failure(AgentHTTPError.connectFailed(
                        endpoint: request.endpoint, reason: "\(request.path): \(error)")))
                }
            case .failure(let error):
                finish(.failure(Self.connectError(error, request: request)))
            }
        }
    }

    /// The channel exists (not yet connected): remember it so a deadline or cancellation can abort the connect.
    func channelCreated(_ channel: any Channel) {
        if finished {
            channel.close(promise: nil)
        } else {
            self.channel = channel
        }
    }

    /// Completes the exchange once; later calls are ignored.
    func finish(_ result: Result<AgentHTTPResponse, any Error>) {
        eventLoop.preconditionInEventLoop()
        guard !finished else { return }
        finished = true
        deadlineTimer?.cancel()
        deadlineTimer = nil
        channel?.close(promise: nil)
        channel = nil
        promise.completeWith(result)
    }

    static func connectError(_ error: any Error, request: Request) -> AgentHTTPError {
        let endpoint = request.endpoint
        switch error {
        case ChannelError.connectTimeout:
            return .connectTimeout(endpoint: endpoint, timeout: request.connectTimeout)
        case let error as IOError where error.errnoCode == ECONNREFUSED:
            return .connectionRefused(endpoint: endpoint)
        case let error as NIOConnectionError:
            let causes = error.connectionErrors.map(\.error)
            if !causes.isEmpty, causes.allSatisfy({ ($0 as? IOError)?.errnoCode == ECONNREFUSED }) {
                return .connectionRefused(endpoint: endpoint)
            }
            if causes.contains(where: { if case ChannelError.connectTimeout = $0 { true } else { false } }) {
                return .connectTimeout(endpoint: endpoint, timeout: request.connectTimeout)
            }
            let reasons = causes.map { "\($0)" } + [error.dnsAError, error.dnsAAAAError].compactMap { $0.map { "\($0)" } }
            return .connectFailed(endpoint: endpoint, reason: reasons.isEmpty ? "\(error)" : reasons.joined(separator: "; "))
        default:
            return .connectFailed(endpoint: endpoint, reason: "\(error)")
        }
    }
}
