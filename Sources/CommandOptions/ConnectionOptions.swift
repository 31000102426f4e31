import AMQP
import ArgumentParser
import Foundation
import Logging
import Worker

/// Options every command that talks to the broker shares. The password is never a flag: it
/// comes from the config file, `CLOUDBUS_AMQP_PASSWORD[_FILE]` or a systemd credential.
public struct ConnectionOptions: ParsableArguments {
    public init() {}

    @Option(help: "JSON config file (lowest precedence; CLOUDBUS_CONFIG also works).")
    public var config: String?

    @Option(help: "Broker URL without password, e.g. amqp://guest@127.0.0.1:5672/%2F (env CLOUDBUS_AMQP_URL).")
    public var amqpUrl: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error (env CLOUDBUS_LOG_LEVEL).")
    public var logLevel: String?

    public func resolve(_ overrides: WorkerConfiguration.Overrides = .init()) throws -> WorkerConfiguration {
        do {
            return try load(overrides).configuration
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The configuration with every setting's source, loaded exactly as ``resolve(_:)`` does; errors unwrapped.
    public func load(_ overrides: WorkerConfiguration.Overrides = .init()) throws -> LoadedConfiguration {
        var overrides = overrides
        overrides.amqpURL = amqpUrl
        overrides.logLevel = logLevel ?? overrides.logLevel
        return try WorkerConfiguration.load(file: config, overrides: overrides)
    }
}

/// Logging for the command-line tools: one stderr stream at the asked level.
public enum Logs {
    /// Logging to standard error at `level` (the worker's configuration has refused an unknown level already; the
    /// tools fall back to `info`), as text or as JSON lines.
    public static func bootstrap(level: String, format: LogFormat = .text) {
        let parsed = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = parsed
                return handler
            case .json:
                var handler = JSONLogHandler.standardError(label: label)
                handler.logLevel = parsed
                return handler
            }
        }
    }
}
