import Benchmark

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BenchmarkMetric {
    /// CPU time of the whole process (all threads) over the measured region, from `CLOCK_PROCESS_CPUTIME_ID`.
    ///
    /// The built-in `.cpuTotal` reads utime/stime from `/proc/self/stat`, which on Linux advance in 10 ms scheduler
    /// ticks: per operation it reads 0 or 10 µs for any iteration shorter than a tick. This clock has nanosecond
    /// resolution, so the per-operation figure means something. Scaled like wall clock (per operation, `*`).
    public static let processCPU = BenchmarkMetric.custom(
        "Time (process CPU) (ns)", polarity: .prefersSmaller, useScalingFactor: true)
}

/// CPU nanoseconds the process has used so far.
public func processCPUNanoseconds() -> Int {
    var time = timespec()
    guard clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time) == 0 else {
        fatalError("clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed")
    }
    return Int(time.tv_sec) * 1_000_000_000 + Int(time.tv_nsec)
}

/// What every benchmark here reports: wall clock, process CPU, allocations, and operations per second.
public let standardMetrics: [BenchmarkMetric] = [.wallClock, .processCPU, .mallocCountTotal, .throughput]

extension Benchmark {
    /// Runs `body` and records the process CPU it used as ``BenchmarkMetric/processCPU``.
    public func measuringProcessCPU<Result>(_ body: () throws -> Result) rethrows -> Result {
        let start = processCPUNanoseconds()
        let result = try body()
        measurement(.processCPU, processCPUNanoseconds() - start)
        return result
    }
}
