import ArgumentParser
import Worker

/// The worker's own flags (those of `run`), for the commands that must load the configuration as `run` does
/// (`config check`). Each one fills one field of ``WorkerConfiguration/Overrides``.
public struct WorkerFlags: ParsableArguments {
    public init() {}

    @Option(help: "This worker's node UUID (32 hex). Default: kept in <data-dir>/node-uuid.")
    public var nodeUuid: String?

    @Option(help: "Directory for the SQLite inventory and the node id (env CLOUDBUS_DATA_DIR).")
    public var dataDir: String?

    @Option(help: "Address of the agent-callback HTTP server (default 127.0.0.1); probes and /metrics are on admin.host.")
    public var httpHost: String?

    @Option(help: "Port of the agent-callback HTTP server (default 8081; 0 picks one).")
    public var httpPort: Int?

    @Option(help: "Callback URL handed to agents when the worker is behind NAT.")
    public var callbackUrl: String?

    @Option(help: "Unacked deliveries in flight (default 256).")
    public var prefetch: UInt16?

    @Option(help: "Comma-separated services to serve (default host,vmInstance,storage.primary).")
    public var services: String?

    /// The flags given, as overrides of the file and the environment.
    public var overrides: WorkerConfiguration.Overrides {
        var overrides = WorkerConfiguration.Overrides()
        overrides.nodeUUID = nodeUuid
        overrides.dataDirectory = dataDir
        overrides.httpHost = httpHost
        overrides.httpPort = httpPort
        overrides.publicCallbackURL = callbackUrl
        overrides.prefetch = prefetch
        overrides.services = services?.split(separator: ",").map(String.init)
        return overrides
    }
}
