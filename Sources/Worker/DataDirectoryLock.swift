import Foundation
import Primitives

/// An exclusive lock on a worker's data directory (`flock` on `<dir>/worker.lock`), held while the worker serves:
/// a second process started with the same directory — the same node id, the same inventory — stops with a clear
/// error instead of sharing the queues and breaking per-key order. The lock dies with the process (`kill -9`
/// included), so a crash never leaves a stale lock behind; the file records the holder's pid for the error message.
final class DataDirectoryLock: Sendable {
    private let lock: ExclusiveFileLock
    var path: String { lock.path }

    private init(lock: ExclusiveFileLock) {
        self.lock = lock
    }

    /// Takes the lock or throws ``WorkerStartError/dataDirectoryInUse(path:holder:)`` at once (it never waits).
    static func acquire(directory: String) throws -> DataDirectoryLock {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("worker.lock").path
        let lock: ExclusiveFileLock
        do {
            lock = try ExclusiveFileLock.acquire(path: path)
        } catch {
            switch error {
            case .held:
                let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                throw WorkerStartError.dataDirectoryInUse(path: path, holder: holder.flatMap { $0.isEmpty ? nil : $0 })
            case .unusable(let reason):
                throw WorkerStartError.dataDirectoryUnusable(path: path, reason: reason)
            }
        }
        lock.record("\(ProcessInfo.processInfo.processIdentifier)\n")
        return DataDirectoryLock(lock: lock)
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
