import AMQP
import ArgumentParser
import Foundation
import Logging
import Worker

/// Options every command that talks to the broker shares. The password is never a flag: it
/// comes from the config file or `CLOUDBUS_AMQP_PASSWORD`.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "JSON config file (lowest precedence; CLOUDBUS_CONFIG also works).")
    var config: String?

    @Option(help: "Broker URL without password, e.g. amqp://guest@127.0.0.1:5672/%2F (env CLOUDBUS_AMQP_URL).")
    var amqpUrl: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error (env CLOUDBUS_LOG_LEVEL).")
    var logLevel: String?

    func resolve(_ overrides: WorkerConfiguration.Overrides = .init()) throws -> WorkerConfiguration {
        var overrides = overrides
        overrides.amqpURL = amqpUrl
        overrides.logLevel = logLevel ?? overrides.logLevel
        do {
            return try WorkerConfiguration.resolve(file: config, overrides: overrides)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

enum Logs {
    static func bootstrap(level: String) {
        let parsed = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return handler
        }
    }
}

/// Exit codes the CLI promises: 0 success, 1 the bus answered with an error, 2 no answer / transport failure.
enum ExitStatus {
    static let replyFailed = ExitCode(1)
    static let noReply = ExitCode(2)
    static let invalidMessage = ExitCode(3)
}
