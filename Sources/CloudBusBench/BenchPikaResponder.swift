import CloudBus
import Foundation
import Synchronization

/// Responder (c): the reference pika peer (`peer_pika_worker.py`), a child process on a fresh queue. The script
/// declares its queue itself, non-durable and auto-delete, so in reliable mode only the requests are persistent
/// and confirmed for it; it does not confirm its replies.
final class BenchPikaResponder: BenchResponder {
    let kind = BenchResponderKind.pika
    let node = NodeUUID.random()
    let inProcess = false
    private let setup: BenchSetup
    private let child = Mutex<BenchChildProcess?>(nil)

    init(setup: BenchSetup) {
        self.setup = setup
    }

    var serviceId: String { ServiceID(service: ServiceID.hostService, node: node).rawValue }
    var queue: String { ServiceID(service: ServiceID.hostService, node: node).queueName }
    var leftoverQueues: [String] { [queue] }

    /// Nil when the script exists and `import pika` works, else why the pika runs are skipped.
    static func unavailableReason(setup: BenchSetup) -> String? {
        guard FileManager.default.fileExists(atPath: setup.pikaScript) else {
            return "pika peer script not found at \(setup.pikaScript) (give --pika-script)"
        }
        guard let python = BenchPikaResponder.resolve(setup.python) else {
            return "\(setup.python) not found on PATH (give --python)"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import pika"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "cannot run \(python): \(error)" }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : "`\(python) -c 'import pika'` failed (pip install pika==1.4.4)"
    }

    /// An executable name looked up on PATH, or a path as given.
    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    func start() async throws {
        guard let python = Self.resolve(setup.python) else { throw BenchError.setup("\(setup.python) not found") }
        let process = try BenchChildProcess(
            executable: python,
            arguments: [setup.pikaScript, "--url", setup.urlWithPassword, "--queue", queue,
                        "--exchange", BusNames.p2pExchange],
            environment: setup.childEnvironment,
            logPath: URL(fileURLWithPath: setup.scratchDirectory).appendingPathComponent("pika-\(node.rawValue).log").path)
        child.withLock { $0 = process }
    }

    func cpuTime() -> Duration? { child.withLock { $0 }.flatMap { BenchProcStat.cpuTime(pid: $0.pid) } }

    func peakRSS() -> Int? { child.withLock { $0 }.flatMap { BenchProcStat.peakRSS(pid: "\($0.pid)") } }

    func stop() async -> String? {
        guard let process = child.withLock({ $0 }) else { return nil }
        let wasRunning = process.isRunning
        _ = await process.stop()
        return wasRunning ? nil : "pika peer had exited before the end; log \(process.logPath):\n\(process.logTail)"
    }
}
