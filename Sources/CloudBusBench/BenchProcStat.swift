// `timespec` resolves to the copy in CDispatch's clang module once the package links swift-metrics and hummingbird.
import CDispatch
import Foundation
import Glibc

/// What the bench reads from /proc: CPU time and peak resident memory of a process, and the machine's facts.
enum BenchProcStat {
    /// User + system CPU time of all threads of `pid`, from /proc/<pid>/stat (clock-tick resolution, 10 ms).
    static func cpuTime(pid: Int32) -> Duration? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after "pid (comm) ": state is field 3, utime 14, stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        guard ticks > 0 else { return nil }
        return .nanoseconds((user + system) * (1_000_000_000 / ticks))
    }

    /// CPU time of every process whose command name is `name` (from /proc/<pid>/comm), e.g. `beam.smp` for the
    /// broker: every node on the machine counts.
    static func cpu(ofProcessesNamed name: String) -> Duration {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var total = Duration.zero
        for entry in entries {
            guard let pid = Int32(entry),
                  let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == name
            else { continue }
            total += cpuTime(pid: pid) ?? .zero
        }
        return total
    }

    /// Voluntary plus involuntary context switches of the threads of `pid` alive now, summed from
    /// /proc/<pid>/task/*/status. A count of hand-offs and sleeps that load on the machine barely moves — at one
    /// request in flight each one is a wake-up of a sleeping thread, the largest cost of a message there — so an
    /// A/B comparison of it holds when CPU time is too noisy to show a few per cent.
    static func contextSwitches(pid: Int32) -> Int? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
        var total = 0
        for task in tasks {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)
            else { continue }
            for line in text.split(separator: "\n")
            where line.hasPrefix("voluntary_ctxt_switches:") || line.hasPrefix("nonvoluntary_ctxt_switches:") {
                if let count = line.split(separator: "\t").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
                    total += count
                }
            }
        }
        return total
    }

    /// CPU time of this whole process (every thread), from getrusage.
    static func ownCPUTime() -> Duration {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func duration(_ value: timeval) -> Duration { .seconds(value.tv_sec) + .microseconds(value.tv_usec) }
        return duration(usage.ru_utime) + duration(usage.ru_stime)
    }

    /// Peak resident set size (VmHWM) in bytes; "self" for this process.
    static func peakRSS(pid: String) -> Int? { statusBytes(pid: pid, field: "VmHWM:") }

    /// Resident set size now (VmRSS) in bytes.
    static func currentRSS(pid: String) -> Int? { statusBytes(pid: pid, field: "VmRSS:") }

    private static func statusBytes(pid: String, field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kilobytes = Int(parts[1]) { return kilobytes * 1024 }
        }
        return nil
    }

    static var loadAverage: String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "?" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "?"
    }

    static var processorCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Absolute path of the running executable.
    static var ownExecutable: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The `cloudbus-bench` binary: `CLOUDBUS_BENCH_BINARY` when set, else this process's executable.
    static var benchExecutable: String {
        if let path = ProcessInfo.processInfo.environment["CLOUDBUS_BENCH_BINARY"], !path.isEmpty { return path }
        return ownExecutable
    }

    /// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID): the load client's own cost, excluding every
    /// other thread of the bench process.
    static func threadCPUTime() -> Duration {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return .seconds(spec.tv_sec) + .nanoseconds(spec.tv_nsec)
    }

    /// The production binary the bench measures: `cloudbus-worker` beside this one (SwiftPM builds every product
    /// of the package into one directory), or `CLOUDBUS_WORKER_BINARY` when set.
    static var workerExecutable: String {
        if let path = ProcessInfo.processInfo.environment["CLOUDBUS_WORKER_BINARY"], !path.isEmpty { return path }
        return URL(fileURLWithPath: ownExecutable).deletingLastPathComponent()
            .appendingPathComponent("cloudbus-worker").path
    }
}
