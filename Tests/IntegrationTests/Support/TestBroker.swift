import AMQP
import Foundation
import Testing

/// The broker `make test` started (`CLOUDBUS_TEST_AMQP_URL`). Integration suites are disabled
/// with that reason when it is unset, so a bare `swift test` still runs the unit tests.
enum TestBroker {
    static var url: String? { ProcessInfo.processInfo.environment["CLOUDBUS_TEST_AMQP_URL"] }
    static var available: Bool { url != nil }

    static func configuration() throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: try #require(url))
        configuration.reconnectInitialDelay = .milliseconds(50)
        configuration.reconnectMaxDelay = .milliseconds(500)
        configuration.heartbeat = .seconds(10)
        return configuration
    }

    /// Runs the broker control script named by `CLOUDBUS_BROKER_CTL` (start, stop, close-connections…).
    static func control(_ arguments: String...) throws {
        let script = try #require(ProcessInfo.processInfo.environment["CLOUDBUS_BROKER_CTL"],
                                  "CLOUDBUS_BROKER_CTL names the broker control script")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "broker control \(arguments) failed")
    }
}
