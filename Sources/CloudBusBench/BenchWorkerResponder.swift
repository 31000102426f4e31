import AMQP
import CloudBus
import CloudBusAMQP
import Foundation
import Synchronization

/// Responder (a): the worker itself, as a child process (`cloudbus-worker run`, the binary beside `cloudbus-bench`), serving one
/// service (`host`) on a fresh node id with its own data directory and an HTTP port picked by the kernel.
///
/// A child rather than `WorkerRuntime.start` in-process: the worker then has its own cooperative thread pool
/// (in-process it would share the bench client's two pool threads, and each would slow the other in ways that do
/// not happen in production), its CPU time and peak RSS are its own (/proc/<pid>), and it is exactly what
/// operators run.
final class BenchWorkerResponder: BenchResponder {
    let kind: BenchResponderKind
    let node = NodeUUID.random()
    let inProcess = false
    private let setup: BenchSetup
    private let reliable: Bool
    private let executable: String
    private let queueType: String?
    private let child = Mutex<BenchChildProcess?>(nil)

    /// - Parameter baseline: another build of the worker to run instead of the one beside this tool.
    /// - Parameter queueType: the worker's `queueType` (classic, quorum); nil leaves the worker's default.
    init(setup: BenchSetup, reliable: Bool, baseline: String? = nil, queueType: String? = nil) {
        self.setup = setup
        self.reliable = reliable
        self.kind = baseline == nil ? .worker : .workerBaseline
        self.executable = baseline ?? BenchProcStat.workerExecutable
        self.queueType = queueType
    }

    var serviceId: String { ServiceID(service: ServiceID.hostService, node: node).rawValue }
    var queue: String { ServiceID(service: ServiceID.hostService, node: node).queueName }
    var leftoverQueues: [String] { [queue, BusTopology.eventQueue(node: node)] }

    /// The worker's data directory (a bench may prepare its inventory there before `start`).
    var dataDirectory: String {
        URL(fileURLWithPath: setup.scratchDirectory).appendingPathComponent("worker-\(node.rawValue)").path
    }

    func start() async throws {
        let directory = URL(fileURLWithPath: dataDirectory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Durability of the worker's queues is a file-only setting.
        let configPath = directory.appendingPathComponent("config.json").path
        let backlog = setup.sameKey ? #", "keyBacklog": \#(setup.prefetch)"# : ""
        let type = queueType.map { #", "queueType": "\#($0)""# } ?? ""
        try Data(#"{"durableQueues": \#(reliable)\#(backlog)\#(type)}"#.utf8).write(to: URL(fileURLWithPath: configPath))
        var environment = setup.childEnvironment
        environment["CLOUDBUS_AMQP_PASSWORD"] = setup.amqp.password
        environment["CLOUDBUS_ADMIN_PORT"] = "0"
        BenchChildProcess.evictFromPageCache(executable)
        let process = try BenchChildProcess(
            executable: executable,
            arguments: ["run", "--config", configPath, "--amqp-url", setup.urlWithoutPassword,
                        "--node-uuid", node.rawValue, "--data-dir", directory.path, "--http-host", "127.0.0.1",
                        "--http-port", "0", "--services", ServiceID.hostService, "--prefetch", "\(setup.prefetch)",
                        "--log-level", "warning"],
            environment: environment, logPath: directory.appendingPathComponent("worker.log").path)
        child.withLock { $0 = process }
    }

    func cpuTime() -> Duration? { child.withLock { $0 }.flatMap { BenchProcStat.cpuTime(pid: $0.pid) } }

    func peakRSS() -> Int? { child.withLock { $0 }.flatMap { BenchProcStat.peakRSS(pid: "\($0.pid)") } }

    func stop() async -> String? {
        guard let process = child.withLock({ $0 }) else { return nil }
        let wasRunning = process.isRunning
        let status = await process.stop()
        if !wasRunning { return "worker had exited before the end; log \(process.logPath):\n\(process.logTail)" }
        if status == nil { return "worker ignored SIGTERM for 10 s and was killed; log \(process.logPath)" }
        return nil
    }

    var logTail: String { child.withLock { $0 }?.logTail ?? "" }
}
