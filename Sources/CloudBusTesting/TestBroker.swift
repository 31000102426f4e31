@_spi(RawSession) import AMQP
import Foundation

/// The broker `make test` started, as every test target sees it: `CLOUDBUS_TEST_AMQP_URL` (guest on loopback) and
/// `CLOUDBUS_BROKER_CTL`, the control script (start, stop, close-connections…). Suites that need the broker are
/// disabled with that reason when the URL is unset, so a bare `swift test` still runs the unit tests.
public enum TestBroker {
    public static var url: String? { ProcessInfo.processInfo.environment["CLOUDBUS_TEST_AMQP_URL"] }
    /// Whether suites that need the broker run: when it is configured, and always in CI (`CI=true`), where a missing
    /// broker must fail those suites (``configuration()`` throws) instead of skipping them unseen.
    public static var available: Bool { url != nil || ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The test broker with short reconnect delays (tests kill connections on purpose) and a 10 s heartbeat.
    /// - Throws: ``TestBrokerError/notConfigured`` outside `make test`; a malformed URL's `AMQPError`.
    public static func configuration() throws -> AMQPConfiguration {
        guard let url else { throw TestBrokerError.notConfigured("CLOUDBUS_TEST_AMQP_URL") }
        var configuration = try AMQPConfiguration(url: url)
        configuration.reconnectInitialDelay = .milliseconds(50)
        configuration.reconnectMaxDelay = .milliseconds(500)
        configuration.heartbeat = .seconds(10)
        return configuration
    }

    /// The broker's TLS listener, `CLOUDBUS_TEST_AMQPS_URL`, with the test certificates in `CLOUDBUS_TEST_TLS_DIR`
    /// (made by `scripts/tls-certs.sh`: `ca.pem` signed the broker's certificate for 127.0.0.1 and localhost,
    /// `client.pem`/`client.key` come from the same CA, `stranger-ca.pem` signed nothing the broker uses).
    public static var tlsURL: String? { ProcessInfo.processInfo.environment["CLOUDBUS_TEST_AMQPS_URL"] }
    public static var tlsDirectory: String? { ProcessInfo.processInfo.environment["CLOUDBUS_TEST_TLS_DIR"] }

    /// The TLS listener with peer and hostname verification on, trusting the CA file `trusting` of the test
    /// directory, and presenting the test client certificate when `clientCertificate` is set.
    /// - Throws: ``TestBrokerError/notConfigured`` outside `make test`.
    public static func tlsConfiguration(trusting caFile: String = "ca.pem", clientCertificate: Bool = false,
                                        verifyPeer: Bool = true) throws -> AMQPConfiguration {
        guard let url = tlsURL else { throw TestBrokerError.notConfigured("CLOUDBUS_TEST_AMQPS_URL") }
        guard let directory = tlsDirectory else { throw TestBrokerError.notConfigured("CLOUDBUS_TEST_TLS_DIR") }
        var configuration = try AMQPConfiguration(url: url)
        configuration.tls = .init(
            caCertificatePath: "\(directory)/\(caFile)",
            clientCertificatePath: clientCertificate ? "\(directory)/client.pem" : nil,
            clientKeyPath: clientCertificate ? "\(directory)/client.key" : nil,
            verifyPeer: verifyPeer, verifyHostname: verifyPeer)
        configuration.reconnectInitialDelay = .milliseconds(50)
        configuration.reconnectMaxDelay = .milliseconds(500)
        configuration.heartbeat = .seconds(10)
        configuration.connectTimeout = .seconds(5)
        return configuration
    }

    /// Whether tests may stop and start the broker (`CLOUDBUS_BROKER_CTL` names the control script); in CI always,
    /// so a missing script fails those tests instead of skipping them.
    public static var controllable: Bool {
        available && (ProcessInfo.processInfo.environment["CLOUDBUS_BROKER_CTL"] != nil
            || ProcessInfo.processInfo.environment["CI"] == "true")
    }

    /// Deletes queues a test leaves behind (blocking: one connection, one round trip per queue). For queues that
    /// would otherwise outlive the run and keep collecting: a stopped worker's event queue takes a copy of every
    /// broadcast event of the runs after it, and each copy expires into the shared dead-letter queue.
    public static func deleteQueues(_ names: [String]) throws {
        // Blocking its caller: a broker that a test stopped refuses at once, but one that does not answer must not
        // hold a test's teardown for the default 10 s.
        var configuration = try configuration()
        configuration.connectTimeout = .seconds(2)
        try RabbitSession.deleteQueues(names, configuration: configuration)
    }

    /// `<prefix>.<8 random hex>`: queue and exchange names no other test (or earlier run) uses.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs the broker control script and waits for it.
    /// - Throws: ``TestBrokerError`` when the script is not named or exits non-zero.
    public static func control(_ arguments: String...) throws {
        guard let script = ProcessInfo.processInfo.environment["CLOUDBUS_BROKER_CTL"] else {
            throw TestBrokerError.notConfigured("CLOUDBUS_BROKER_CTL")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestBrokerError.controlFailed(arguments: arguments, status: process.terminationStatus)
        }
    }
}

/// Why the test broker could not be used.
public enum TestBrokerError: Error, CustomStringConvertible {
    case notConfigured(String)
    case controlFailed(arguments: [String], status: Int32)

    public var description: String {
        switch self {
        case .notConfigured(let variable): "\(variable) is not set (run the broker tests through `make test`)"
        case .controlFailed(let arguments, let status): "broker control \(arguments) exited with \(status)"
        }
    }
}
