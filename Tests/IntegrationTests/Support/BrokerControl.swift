import CloudBusTesting
import Foundation
import Glibc
import Testing

/// Runs one verb (`start`, `stop`, `close-connections`) of the broker control script named by
/// `CLOUDBUS_BROKER_CTL` — the same script and verbs as `TestBroker.control` — but safe for `start`.
///
/// Why not `TestBroker.control`: Foundation's `Process` on Linux learns that a child exited from
/// EOF on a socket the child inherits. `start` leaves the broker running in the background, and
/// the broker inherits that socket too, so `waitUntilExit()` never returns while the broker
/// runs: the test hangs, blocking a thread of the cooperative pool where no time limit can reach
/// it. Here the script is spawned with every descriptor above stderr closed, its exit is awaited
/// with `waitpid` on a thread of its own, and the wait is bounded.
enum BrokerControl {
    enum Failure: Error, CustomStringConvertible {
        case spawnFailed(verb: String, errno: Int32)
        case timedOut(verb: String, after: Duration)
        case failed(verb: String, exitStatus: Int32)

        var description: String {
            switch self {
            case .spawnFailed(let verb, let code): "cannot run the broker control script (\(verb)): errno \(code)"
            case .timedOut(let verb, let after): "broker control \(verb) did not finish within \(after); killed"
            case .failed(let verb, let status): "broker control \(verb) exited with status \(status)"
            }
        }
    }

    /// Runs `bash $CLOUDBUS_BROKER_CTL <verb>` and returns once it exited with status 0.
    /// Throws when it cannot start, exits non-zero, or outlives `limit` (it is then killed).
    static func run(_ verb: String, within limit: Duration = .seconds(120)) async throws {
        let script = try #require(ProcessInfo.processInfo.environment["CLOUDBUS_BROKER_CTL"],
                                  "CLOUDBUS_BROKER_CTL names the broker control script")
        let pid = try spawn(["/bin/bash", script, verb], verb: verb)
        let waitStatus: Int32? = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await reap(pid) }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil {
                kill(pid, SIGKILL) // our own child, by its id
                _ = await group.next()
                return nil
            }
            group.cancelAll()
            return first
        }
        guard let waitStatus else { throw Failure.timedOut(verb: verb, after: limit) }
        let exited = waitStatus & 0x7f == 0
        let exitStatus = exited ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
        guard exitStatus == 0 else { throw Failure.failed(verb: verb, exitStatus: exitStatus) }
    }

    /// posix_spawn with stdin/stdout on /dev/null, stderr inherited, and every other inherited
    /// descriptor closed (none of them may outlive the script in a background broker).
    private static func spawn(_ arguments: [String], verb: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        // Descriptors that closed since the listing are skipped by glibc (only out-of-range ones fail).
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap(Int32.init) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard result == 0 else { throw Failure.spawnFailed(verb: verb, errno: result) }
        return pid
    }

    /// `waitpid` blocks, so it runs on a thread of its own, never on the cooperative pool.
    private static func reap(_ pid: pid_t) async -> Int32? {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 {
                    guard errno == EINTR else {
                        continuation.resume(returning: 255 << 8) // unreapable: report it as a failed run
                        return
                    }
                }
                continuation.resume(returning: status)
            }
            thread.name = "broker-control-\(pid)"
            thread.start()
        }
    }
}
