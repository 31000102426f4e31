import AMQP
import Foundation
import Synchronization
import Testing

/// The broker `make test` started. Tests that need it are skipped with a visible reason when
/// `CLOUDBUS_TEST_AMQP_URL` is unset (a plain `swift test` outside `make test`).
enum BrokerEnvironment {
    static var url: String? { ProcessInfo.processInfo.environment["CLOUDBUS_TEST_AMQP_URL"] }
    static var available: Bool { url != nil }

    static func configuration() throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: try #require(url))
        configuration.reconnectInitialDelay = .milliseconds(50)
        configuration.reconnectMaxDelay = .milliseconds(500)
        configuration.heartbeat = .seconds(10)
        return configuration
    }

    static func uniqueName(_ prefix: String) -> String {
        "\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs the broker control script (`start`, `stop`, `close-connections`…).
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

/// Drains a stream in the background so tests can wait for the next element with a bound:
/// a missing message fails the test instead of hanging it.
final class StreamCollector<Element: Sendable>: Sendable {
    private let buffer: Buffer

    private final class Buffer: Sendable {
        let items = Mutex<[Element]>([])
    }
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<Element>) {
        let buffer = Buffer()
        self.buffer = buffer
        task = Task {
            for await element in stream { buffer.items.withLock { $0.append(element) } }
        }
    }

    deinit { task.cancel() }

    func next(within limit: Duration = .seconds(20)) async -> Element? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let element = buffer.items.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return element }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }
}
