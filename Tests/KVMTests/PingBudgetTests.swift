import CloudBus
import Testing

@testable import KVM

/// The arithmetic that keeps a ping sequence inside its message's deadline, at fixed instants (no clock involved).
@Suite struct PingBudgetTests {
    let start = ContinuousClock.now
    let settings = PingSettings(
        timeout: .seconds(10), maxFailure: 3, sleepAfterFailure: .seconds(1), connectTimeout: .seconds(5))

    func budget(deadlineIn remaining: Duration?) -> PingBudget {
        let context = HandlerContext(
            base: MessageBase(createdTime: 0), deadline: remaining.map { start + $0 }, redelivered: false)
        return PingBudget(context: context, now: start)
    }

    @Test func reserveIsATenthOfTheTimeLeftAtMostOneSecond() {
        #expect(budget(deadlineIn: .seconds(2)).reserve == .milliseconds(200))
        #expect(budget(deadlineIn: .seconds(60)).reserve == .seconds(1))
        #expect(budget(deadlineIn: nil).reserve == .zero)
    }

    @Test func attemptsAreCutToWhatIsLeftBeforeTheReserve() {
        let twoSeconds = budget(deadlineIn: .seconds(2))
        #expect(twoSeconds.nextAttempt(settings: settings, now: start) == .milliseconds(1800))
        #expect(twoSeconds.nextAttempt(settings: settings, now: start + .milliseconds(1750)) == nil)

        let long = budget(deadlineIn: .seconds(60))
        #expect(long.nextAttempt(settings: settings, now: start) == .seconds(10))
        #expect(budget(deadlineIn: nil).nextAttempt(settings: settings, now: start) == .seconds(10))
    }

    @Test func retryingStopsWhenThePauseAndAUsefulAttemptNoLongerFit() {
        let fiveSeconds = budget(deadlineIn: .seconds(5))  // reserve 0.5 s
        #expect(fiveSeconds.pauseBeforeRetry(settings: settings, now: start) == .seconds(1))
        // 4.5 s usable; at 3.4 s, 1.1 s are left: the 1 s pause plus a 100 ms attempt just fit.
        #expect(fiveSeconds.pauseBeforeRetry(settings: settings, now: start + .milliseconds(3400)) == .seconds(1))
        #expect(fiveSeconds.pauseBeforeRetry(settings: settings, now: start + .milliseconds(3500)) == nil)
        #expect(budget(deadlineIn: nil).pauseBeforeRetry(settings: settings, now: start) == .seconds(1))
    }

    @Test func shortConfiguredTimeoutsAreUsefulAttempts() {
        let quick = PingSettings(timeout: .milliseconds(40), sleepAfterFailure: .milliseconds(10))
        #expect(budget(deadlineIn: .seconds(1)).nextAttempt(settings: quick, now: start) == .milliseconds(40))
    }

    @Test func settingsKeepAtLeastOneAttempt() {
        #expect(PingSettings(maxFailure: 0).maxFailure == 1)
        #expect(PingSettings().timeout == .seconds(10))
        #expect(PingSettings().maxFailure == 3)
        #expect(PingSettings().sleepAfterFailure == .seconds(1))
    }
}
