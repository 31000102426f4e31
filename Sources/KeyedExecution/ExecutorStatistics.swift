/// A consistent snapshot of a ``KeyedSerialExecutor``'s load, for metrics and health checks.
public struct ExecutorStatistics: Sendable, Hashable {
    /// Keys with queued or running work (the executor holds memory only for these).
    public var activeKeys: Int
    /// Jobs accepted but not yet started, across all keys.
    public var queuedJobs: Int
    /// Jobs running now (at most `maxConcurrentJobs`); abandoned jobs are not counted here.
    public var runningJobs: Int
    /// Jobs that passed their deadline and whose body has not returned yet. They no longer hold a key or a
    /// concurrency slot, but they still hold whatever they hold; a value that only grows means a job ignores
    /// cancellation.
    public var abandonedJobsRunning: Int
    /// Jobs abandoned at their deadline since the executor was created.
    public var abandonedJobsTotal: Int
}
