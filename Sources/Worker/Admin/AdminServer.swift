import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The operator's HTTP listener, apart from the agent-callback port (agents must reach that one; Prometheus and
/// probes must not need it): `GET /metrics` (Prometheus text format), `/livez` (200 while the process serves HTTP
/// at all) and `/readyz` (200 `ok` only while the worker consumes, both broker connections are up, the broker does
/// not block it, the shared store answers and it is not draining; else 503 with the one-line reason). Binds
/// `admin.host:admin.port`, 127.0.0.1:9464 by default.
public final class AdminServer: Service, Sendable {
    /// What `/readyz` asks: ready or not, and why in one line.
    public typealias Readiness = @Sendable () -> (ready: Bool, reason: String)

    private let host: String
    private let requestedPort: Int
    private let metrics: WorkerMetrics
    private let readiness: Readiness
    private let logger: Logger
    private let bound = Mutex<(port: Int?, failure: (any Error)?, waiters: [CheckedContinuation<Int, any Error>])>(
        (nil, nil, []))

    public init(host: String, port: Int, metrics: WorkerMetrics, readiness: @escaping Readiness, logger: Logger) {
        self.host = host
        self.requestedPort = port
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
    }

    /// Serves until graceful shutdown (Hummingbird's application is itself a lifecycle service). A port that
    /// cannot be bound fails the run, and with it the worker's service group: an operator notices at start.
    public func run() async throws {
        let router = Router()
        let metrics = metrics, readiness = readiness
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.get("/livez") { _, _ -> Response in Self.text(.ok, "ok") }
        router.get("/readyz") { _, _ -> Response in
            let (ready, reason) = readiness()
            return Self.text(ready ? .ok : .serviceUnavailable, reason)
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: requestedPort), serverName: "cloudbus-worker-admin"),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? requestedPort
                logger.info("admin listener serving", metadata: ["admin.host": "\(host)", "admin.port": "\(port)"])
                settle(.success(port))
            },
            logger: logger)
        do {
            try await app.run()
        } catch {
            settle(.failure(error))
            throw error
        }
        settle(.failure(CancellationError()))
    }

    /// The bound port, once listening (port 0 in the configuration picks a free one: tests); throws if binding failed.
    public func port() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let result: Result<Int, any Error>? = bound.withLock { state in
                if let port = state.port { return .success(port) }
                if let failure = state.failure { return .failure(failure) }
                state.waiters.append(continuation)
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }

    private func settle(_ result: Result<Int, any Error>) {
        let waiters = bound.withLock { state -> [CheckedContinuation<Int, any Error>] in
            switch result {
            case .success(let port): state.port = port
            case .failure(let error): if state.port == nil { state.failure = error }
            }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    private static func text(_ status: HTTPResponse.Status, _ line: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: line + "\n")))
    }
}
