import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Glibc
import Testing

/// The real `cloudbus-worker run` binary as a child process, for what an in-process worker cannot
/// show: a `kill -9` (no drain, no ack flush, no close) and a restart with the same node and data.
///
/// Configuration travels the way an operator passes it: the broker URL without password in
/// `CLOUDBUS_AMQP_URL`, the password in `CLOUDBUS_AMQP_PASSWORD`, the rest as flags. Output goes to
/// `<data dir>/worker-<n>.log`, so a failing test can show it and a chatty worker never blocks on
/// a full pipe.
final class WorkerProcess: Sendable {
    let node: NodeUUID
    let dataDirectory: String
    let logPath: String
    private let process: Process

    /// `<package root>/.build/debug/cloudbus-worker`, as `swift build --build-tests` leaves it.
    static var binaryPath: String { CLIProcess.binary.path }

    /// Starts `cloudbus-worker run` serving `services` (default: only the host service), with `environment` added to
    /// the broker settings. Returns once the process runs, not once it serves: poll it with an echo
    /// (`RPCClient.call`) for that.
    static func launch(node: NodeUUID, dataDirectory: String, prefetch: Int, generation: Int,
                       services: [String] = [ServiceID.hostService],
                       environment extra: [String: String] = [:]) throws -> WorkerProcess {
        let binary = binaryPath
        try #require(FileManager.default.isExecutableFile(atPath: binary),
                     "\(binary) is missing: run `swift build --build-tests` first")
        let url = try #require(TestBroker.url)
        var broker = try #require(URLComponents(string: url))
        let password = broker.password ?? "guest"
        broker.password = nil
        let urlWithoutPassword = try #require(broker.string)

        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let logPath = dataDirectory + "/worker-\(generation).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "run", "--node-uuid", node.rawValue, "--data-dir", dataDirectory, "--http-host", "127.0.0.1",
            "--http-port", "0", "--services", services.joined(separator: ","), "--prefetch", "\(prefetch)",
        ]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CLOUDBUS_") }
        environment["CLOUDBUS_AMQP_URL"] = urlWithoutPassword
        environment["CLOUDBUS_AMQP_PASSWORD"] = password
        environment["CLOUDBUS_LOG_LEVEL"] = "notice"
        environment["CLOUDBUS_ADMIN_PORT"] = "0"
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try? log.close()
        return WorkerProcess(node: node, dataDirectory: dataDirectory, logPath: logPath, process: process)
    }

    private init(node: NodeUUID, dataDirectory: String, logPath: String, process: Process) {
        self.node = node
        self.dataDirectory = dataDirectory
        self.logPath = logPath
        self.process = process
    }

    var isRunning: Bool { process.isRunning }
    /// The exit code (or signal) once the process ended.
    var terminationStatus: Int32 { process.terminationStatus }
    var processIdentifier: Int32 { process.processIdentifier }

    /// `kill -9`: the worker gets no chance to drain, flush acks or close its connection.
    /// Returns the signal the process died of (nil if it had exited by itself before).
    func killHard() async -> Int32? {
        guard process.isRunning else { return nil }
        kill(process.processIdentifier, SIGKILL)
        guard await waitForExit(within: .seconds(10)) else { return nil }
        return process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
    }

    /// SIGTERM (graceful drain), then SIGKILL if it has not exited within `limit`. For cleanup: the worker's event
    /// queue goes too (see `WorkerHarness.stop()`).
    func stop(within limit: Duration = .seconds(20)) async {
        defer { try? TestBroker.deleteQueues([BusTopology.eventQueue(node: node)]) }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if await waitForExit(within: limit) { return }
        kill(process.processIdentifier, SIGKILL)
        _ = await waitForExit(within: .seconds(10))
    }

    /// Polls instead of `waitUntilExit`, which would block a thread of the cooperative pool.
    func waitForExit(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !process.isRunning
    }

    /// The last `bytes` of the worker's log, for failure messages.
    func logTail(_ bytes: Int = 2000) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "<no log at \(logPath)>" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }
}
