import Foundation
import Glibc

/// A responder running as a child process (the worker, the pika peer): started with an explicit environment and
/// its output in a log file, stopped with SIGTERM and, past a bound, SIGKILL. Never outlives the bench.
final class BenchChildProcess: Sendable {
    let pid: Int32
    let logPath: String
    let command: String
    private let process: Process

    init(executable: String, arguments: [String], environment: [String: String], logPath: String) throws {
        guard FileManager.default.createFile(atPath: logPath, contents: nil), let log = FileHandle(forWritingAtPath: logPath) else {
            throw BenchError.setup("cannot write \(logPath)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw BenchError.setup("cannot start \(executable): \(error)")
        }
        self.process = process
        self.pid = process.processIdentifier
        self.logPath = logPath
        self.command = ([executable] + arguments).joined(separator: " ")
    }

    var isRunning: Bool { process.isRunning }

    /// Drops `path`'s pages from the OS page cache (written back first), so that a process started from it reads its
    /// code from disk like after a reboot. Peak RSS depends on how the file's pages came into the cache: a binary just
    /// written by `cp` sits in large folios that a page fault maps whole (+3–4 MB for the worker), one written by the
    /// linker does not; without this the two builds of an A/B run were not measured alike. Best effort.
    static func evictFromPageCache(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = fdatasync(fd)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
    }

    /// The last lines of the child's log, for error messages.
    var logTail: String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status, or nil when it had to be killed.
    @discardableResult
    func stop(grace: Duration = .seconds(10)) async -> Int32? {
        if process.isRunning { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard !process.isRunning else {
            kill(pid, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            return nil
        }
        return process.terminationStatus
    }
}

enum BenchError: Error, CustomStringConvertible {
    case setup(String)
    case responderSilent(responder: String, queue: String, detail: String)

    var description: String {
        switch self {
        case .setup(let text): text
        case .responderSilent(let responder, let queue, let detail): "\(responder) on \(queue) does not answer: \(detail)"
        }
    }
}
