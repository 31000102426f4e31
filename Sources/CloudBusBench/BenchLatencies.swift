import Glibc

/// Per-request latencies of one measured run, in nanoseconds, in a buffer allocated before the run starts, so
/// recording a sample never allocates. Samples beyond the capacity are counted as dropped, not stored.
/// Owned by the load loop's task; not shared.
struct BenchLatencies {
    private var samples: [UInt32]
    private(set) var count = 0
    private(set) var dropped = 0

    init(capacity: Int) {
        samples = [UInt32](repeating: 0, count: max(1, capacity))
    }

    /// Values above ~4.29 s are clamped (a request that slow is a failure anyway, and the run's stall bound is lower).
    mutating func record(nanoseconds: UInt64) {
        guard count < samples.count else {
            dropped += 1
            return
        }
        samples[count] = UInt32(clamping: nanoseconds)
        count += 1
    }

    /// Nearest-rank percentiles over the stored samples.
    func summary() -> BenchLatencySummary {
        guard count > 0 else { return BenchLatencySummary(samples: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0) }
        let sorted = samples[0..<count].sorted()
        func rank(_ p: Double) -> Double {
            let index = min(count - 1, max(0, Int((p * Double(count)).rounded(.up)) - 1))
            return Double(sorted[index]) / 1_000_000
        }
        let total = sorted.reduce(0.0) { $0 + Double($1) }
        return BenchLatencySummary(samples: count, p50Ms: rank(0.50), p90Ms: rank(0.90), p99Ms: rank(0.99),
                                   p999Ms: rank(0.999), maxMs: Double(sorted[count - 1]) / 1_000_000,
                                   meanMs: total / Double(count) / 1_000_000)
    }
}

/// Latency percentiles of one run, in milliseconds.
struct BenchLatencySummary: Codable, Sendable {
    var samples: Int
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var p999Ms: Double
    var maxMs: Double
    var meanMs: Double
}

/// CLOCK_MONOTONIC in nanoseconds: a vDSO call, cheap enough to take twice per request.
enum MonotonicNanos {
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
