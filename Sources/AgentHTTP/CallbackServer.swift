import Foundation
import Logging
import NIOCore
import NIOPosix

/// The worker's HTTP endpoint for agent callbacks (and `GET /healthz`).
///
/// Agents POST the result of an async call to ``callbackURL`` with header `taskuuid`. The server answers 200 at
/// once, whatever happens next, and hands the body to the call waiting for that task (see ``AgentCaller``).
/// A callback for a task nobody waits for any more (unknown, already completed, the caller timed out or was
/// cancelled) is logged and dropped, never applied; ``statistics`` counts them.
///
/// Lifecycle: explicit. ``start(configuration:eventLoopGroup:logger:)`` binds and returns a running server, whose
/// port and callback URL are known from then on; ``shutdown()`` stops it and fails the calls still waiting with
/// ``AgentHTTPError/callbackServerUnavailable(endpoint:path:)``. ``run()`` adapts that to a service that runs
/// until its task is cancelled.
public final class CallbackServer: Sendable {
    public struct Configuration: Sendable {
        /// Address to bind. Default: `127.0.0.1`. Use the management network address (or `0.0.0.0`) when agents
        /// run on other machines.
        public var host: String
        /// Port to bind. Default: 0, an ephemeral port chosen by the kernel (see ``CallbackServer/port``).
        public var port: Int
        /// The path agents POST results to. Default: `/zstack/asyncrest/callback`, ZStack's own.
        public var callbackPath: String
        /// The URL handed to agents, when they must use another address than the bound one (NAT, a bind on
        /// `0.0.0.0`, a proxy). Default: nil, meaning `http://<host>:<bound port><callbackPath>`.
        public var publicCallbackURL: String?
        /// Largest callback body accepted; a bigger one is answered 413 and its waiting call fails with
        /// ``AgentHTTPError/agentFailure(endpoint:path:message:)``. Default: 64 MiB.
        public var maxBodyBytes: Int
        /// Extra `GET` paths served on the same port next to `/healthz` (e.g. `/metrics` from the worker), so the
        /// worker needs one HTTP listener. Each closure runs on an event loop per request and must not block.
        /// Default: none.
        public var getRoutes: [String: @Sendable () -> PlainResponse]

        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            callbackPath: String = "/zstack/asyncrest/callback",
            publicCallbackURL: String? = nil,
            maxBodyBytes: Int = 64 << 20,
            getRoutes: [String: @Sendable () -> PlainResponse] = [:]
        ) {
            self.host = host
            self.port = port
            self.callbackPath = callbackPath
            self.publicCallbackURL = publicCallbackURL
            self.maxBodyBytes = maxBodyBytes
            self.getRoutes = getRoutes
        }
    }

    /// The answer of an extra `GET` route.
    public struct PlainResponse: Sendable {
        public var status: Int
        public var contentType: String
        public var body: String

        public init(status: Int = 200, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    /// Counters since start.
    public struct Statistics: Sendable, Equatable {
        /// Callbacks handed to a waiting call.
        public var delivered: Int
        /// Callbacks dropped: unknown task uuid, second callback, or arrived after the caller gave up.
        public var dropped: Int
        /// Calls currently registered and waiting for a callback.
        public var pending: Int

        public init(delivered: Int, dropped: Int, pending: Int) {
            self.delivered = delivered
            self.dropped = dropped
            self.pending = pending
        }
    }

    /// The port the server is bound to (the kernel's choice when configured with port 0).
    public let port: Int
    /// The URL to send agents in the `callbackurl` header.
    public let callbackURL: String
    public let configuration: Configuration

    let registry: CallbackRegistry
    private let listener: HTTPListener
    private let logger: Logger

    private init(
        configuration: Configuration, listener: HTTPListener, registry: CallbackRegistry, logger: Logger
    ) {
        self.configuration = configuration
        self.listener = listener
        self.registry = registry
        self.logger = logger
        self.port = listener.port
        self.callbackURL = configuration.publicCallbackURL
            ?? AgentEndpoint(host: configuration.host, port: listener.port).url(path: configuration.callbackPath)
    }

    /// Binds and starts serving. Throws if the address cannot be bound.
    public static func start(
        configuration: Configuration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> CallbackServer {
        let registry = CallbackRegistry()
        let callbackPath = configuration.callbackPath
        let getRoutes = configuration.getRoutes
        let listener = try await HTTPListener.bind(
            host: configuration.host, port: configuration.port, eventLoopGroup: eventLoopGroup,
            maxBodyBytes: configuration.maxBodyBytes
        ) { request in
            if request.method == "GET", let route = getRoutes[request.path] {
                let response = route()
                return .respond(status: response.status, body: response.body, contentType: response.contentType)
            }
            return Self.react(to: request, callbackPath: callbackPath, registry: registry, logger: logger)
        }
        let server = CallbackServer(configuration: configuration, listener: listener, registry: registry, logger: logger)
        if configuration.publicCallbackURL == nil, ["0.0.0.0", "::", ""].contains(configuration.host) {
            logger.warning(
                "callback server bound to a wildcard address without publicCallbackURL: agents cannot use the callback URL",
                metadata: ["callbackURL": "\(server.callbackURL)"])
        }
        logger.info("callback server listening", metadata: ["callbackURL": "\(server.callbackURL)", "port": "\(server.port)"])
        return server
    }

    /// Stops accepting callbacks and fails every call still waiting. Idempotent.
    public func shutdown() async {
        registry.close()
        await listener.close()
        logger.info("callback server stopped", metadata: ["port": "\(port)"])
    }

    /// Serves until the calling task is cancelled (or ``shutdown()`` is called elsewhere), then shuts down.
    /// This is the `run()` a swift-service-lifecycle `Service` expects (wrap it in `cancelWhenGracefulShutdown`
    /// to stop on graceful shutdown).
    public func run() async throws {
        await withTaskCancellationHandler {
            await listener.waitUntilClosed()
        } onCancel: {
            registry.close()
            listener.beginClose()
        }
        await shutdown()
    }

    public var statistics: Statistics {
        let counts = registry.counts
        return Statistics(delivered: counts.delivered, dropped: counts.dropped, pending: counts.pending)
    }

    private static func react(
        to request: ReceivedHTTPRequest, callbackPath: String, registry: CallbackRegistry, logger: Logger
    ) -> HTTPReaction {
        switch (request.method, request.path) {
        case ("GET", "/healthz"):
            return .respond(status: 200, body: "ok")
        case ("POST", callbackPath):
            guard let taskUUID = request.header("taskuuid"), !taskUUID.isEmpty else {
                logger.warning("agent callback without taskuuid header dropped")
                return .respond(status: 400, body: "taskuuid missing in request header")
            }
            guard !request.bodyTooLarge else {
                logger.warning("agent callback too large, dropped", metadata: ["taskuuid": "\(taskUUID)"])
                _ = registry.deliver(AgentCallback(
                    taskUUID: taskUUID, body: Data(), errorHeader: "callback body too large"))
                return .respond(status: 413, body: "callback body too large")
            }
            let callback = AgentCallback(taskUUID: taskUUID, body: request.body, errorHeader: request.header("error"))
            switch registry.deliver(callback) {
            case .accepted:
                break
            case .unknownTask:
                logger.warning(
                    "late or unknown agent result dropped (no call waits for this task)",
                    metadata: ["taskuuid": "\(taskUUID)"])
            case .alreadyCompleted:
                logger.warning(
                    "agent result dropped: task already completed (duplicate or late callback)",
                    metadata: ["taskuuid": "\(taskUUID)"])
            }
            return .respond(status: 200, body: "")
        default:
            return .respond(status: 404, body: "not found")
        }
    }
}
