import Foundation
import Glibc

/// An exclusive lock on a worker's data directory (`flock` on `<dir>/worker.lock`), held while the worker serves:
/// a second process started with the same directory — the same node id, the same inventory — stops with a clear
/// error instead of sharing the queues and breaking per-key order. The lock dies with the process (`kill -9`
/// included), so a crash never leaves a stale lock behind; the file records the holder's pid for the error message.
final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
    let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { Glibc.close(descriptor) }

    /// Takes the lock or throws ``WorkerStartError/dataDirectoryInUse(path:holder:)`` at once (it never waits).
    static func acquire(directory: String) throws -> DataDirectoryLock {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("worker.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw WorkerStartError.dataDirectoryUnusable(path: path, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            Glibc.close(descriptor)
            throw WorkerStartError.dataDirectoryInUse(path: path, holder: holder.flatMap { $0.isEmpty ? nil : $0 })
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return DataDirectoryLock(descriptor: descriptor, path: path)
    }
}

/// Why a worker refused to start serving, in words an operator can act on.
public enum WorkerStartError: Error, CustomStringConvertible {
    case dataDirectoryInUse(path: String, holder: String?)
    case dataDirectoryUnusable(path: String, reason: String)
    /// The broker refused the consumer: another process already consumes the queue exclusively.
    case queueInUse(queue: String, node: String)

    public var description: String {
        switch self {
        case .dataDirectoryInUse(let path, let holder):
            "another worker holds \(path)\(holder.map { " (pid \($0))" } ?? ""): one data directory serves one worker"
        case .dataDirectoryUnusable(let path, let reason):
            "cannot open \(path): \(reason)"
        case .queueInUse(let queue, let node):
            "another process already consumes \(queue): a worker with node id \(node) is running elsewhere "
                + "(two workers must not share a node id)"
        }
    }
}
