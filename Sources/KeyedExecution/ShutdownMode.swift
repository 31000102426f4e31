/// What ``KeyedSerialExecutor/shutdown(_:)`` does with work that was already accepted.
///
/// Both modes stop new work: every later `submit` completes at once with ``JobOutcome/rejected`` and so do
/// submitters waiting for queue space. The usual graceful stop is `.drain`, then `waitUntilIdle()` raced against a
/// bound, then `.cancel` if the bound passes (escalating from `.drain` to `.cancel` is allowed; the reverse is ignored).
public enum ShutdownMode: Sendable, Hashable {
    /// Queued and running jobs carry on and complete normally.
    case drain
    /// Queued jobs that have not started complete with ``JobOutcome/rejected`` (their bodies never run; completions
    /// are called before `shutdown` returns, oldest first per key). Then running jobs' tasks are cancelled; they
    /// complete with whatever they return (typically `.threw(CancellationError())`) or at their deadline. This is
    /// the one case where a key's completions are not in submission order: its queued jobs are reported rejected
    /// before its running job completes.
    case cancel
}
