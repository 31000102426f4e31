import CloudBus

/// The share of a message's time a ping may spend on the agent, so the whole retry sequence ends with a
/// `PingHostReply` before the sender's deadline instead of being cancelled by the worker.
///
/// A reserve is kept back for what follows the attempts (status update, publishing and confirming the reply):
/// 10% of the time left when the handler starts, at most 1 second. Without a deadline there is no reserve and
/// every request gets what it asks for.
struct PingBudget: Sendable {
    let context: HandlerContext
    /// Time held back for answering.
    let reserve: Duration

    /// An attempt shorter than this is not worth making: it could only end in its own timeout. It is also never
    /// more than ``PingSettings/timeout`` (tests use short timeouts).
    static let shortestUsefulAttempt: Duration = .milliseconds(100)

    init(context: HandlerContext, now: ContinuousClock.Instant = .now) {
        self.context = context
        // min(remaining, 10 s) / 10 == min(10% of remaining, 1 s).
        self.reserve = context.deadline == nil ? .zero : context.budget(upTo: .seconds(10), now: now) / 10
    }

    /// Time that may still be spent on the agent, capped by `limit`; zero once only the reserve is left.
    func available(upTo limit: Duration, now: ContinuousClock.Instant = .now) -> Duration {
        max(.zero, context.budget(upTo: limit + reserve, now: now) - reserve)
    }

    /// The budget of the next attempt, or nil when less than a useful attempt fits.
    func nextAttempt(settings: PingSettings, now: ContinuousClock.Instant = .now) -> Duration? {
        let granted = available(upTo: settings.timeout, now: now)
        let needed = min(Self.shortestUsefulAttempt, settings.timeout)
        return granted >= needed && granted > .zero ? granted : nil
    }

    /// The pause to take before another attempt, or nil when the pause and a useful attempt after it no longer
    /// fit (then retrying is over).
    func pauseBeforeRetry(settings: PingSettings, now: ContinuousClock.Instant = .now) -> Duration? {
        let needed = min(Self.shortestUsefulAttempt, settings.timeout)
        let left = available(upTo: settings.sleepAfterFailure + settings.timeout, now: now)
        return left - settings.sleepAfterFailure >= needed ? settings.sleepAfterFailure : nil
    }
}
