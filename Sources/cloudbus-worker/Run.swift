import AMQP
import ArgumentParser
import CloudBus
import CommandOptions
import Logging
import ServiceLifecycle
import UnixSignals
import Worker

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the worker until SIGTERM/SIGINT (graceful drain).")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "This worker's node UUID (32 hex). Default: kept in <data-dir>/node-uuid.")
    var nodeUuid: String?

    @Option(help: "Directory for the SQLite inventory and the node id (env CLOUDBUS_DATA_DIR).")
    var dataDir: String?

    @Option(help: "Address of the agent-callback and /healthz HTTP server (default 127.0.0.1).")
    var httpHost: String?

    @Option(help: "Port of the agent-callback and /healthz HTTP server (default 8081; 0 picks one).")
    var httpPort: Int?

    @Option(help: "Callback URL handed to agents when the worker is behind NAT.")
    var callbackUrl: String?

    @Option(help: "Unacked deliveries in flight (default 256).")
    var prefetch: UInt16?

    @Option(help: "Comma-separated services to serve (default host,vmInstance,storage.primary).")
    var services: String?

    func run() async throws {
        var overrides = WorkerConfiguration.Overrides()
        overrides.nodeUUID = nodeUuid
        overrides.dataDirectory = dataDir
        overrides.httpHost = httpHost
        overrides.httpPort = httpPort
        overrides.publicCallbackURL = callbackUrl
        overrides.prefetch = prefetch
        overrides.services = services?.split(separator: ",").map(String.init)
        let configuration = try connection.resolve(overrides)
        Logs.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        let logger = Logger(label: "cloudbus-worker")
        let runtime = try await WorkerRuntime.start(configuration: configuration, logger: logger)
        logger.info("starting", metadata: [
            "node": "\(runtime.worker.node)", "amqp": "\(configuration.amqp.redactedURL)",
            "http": "\(configuration.httpHost):\(runtime.httpPort)",
        ])
        let group = ServiceGroup(configuration: .init(
            services: runtime.services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
            logger: logger))
        try await group.run()
    }
}
