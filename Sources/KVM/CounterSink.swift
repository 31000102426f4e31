/// Where domain modules count what operators must see (fire-and-forget failures, suppressed verdicts, MDS
/// failovers) without knowing how the worker exports metrics. Counter names are stable Prometheus series.
public protocol CounterSink: Sendable {
    func increment(_ name: String, by amount: Int)
}

extension CounterSink {
    public func increment(_ name: String) { increment(name, by: 1) }
}

/// Counts nothing: for tests and tools that do not export metrics.
public struct DiscardingCounters: CounterSink {
    public init() {}
    public func increment(_ name: String, by amount: Int) {}
}
