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

    @OptionGroup var worker: WorkerFlags

    func run() async throws {
        let configuration = try connection.resolve(worker.overrides)
        Logs.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        let logger = Logger(label: "cloudbus-worker")
        let runtime = try await WorkerRuntime.start(configuration: configuration, logger: logger)
        logger.info("starting", metadata: [
            "node": "\(runtime.worker.node)", "amqp": "\(configuration.amqp.redactedURL)",
            "http": "\(configuration.httpHost):\(runtime.httpPort)",
            "admin": "\(configuration.adminHost):\(configuration.adminPort)",
        ])
        let group = ServiceGroup(configuration: .init(
            services: runtime.services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
            logger: logger))
        try await group.run()
    }
}
