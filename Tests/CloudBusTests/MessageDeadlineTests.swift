import CloudBus
import Testing

@Suite("Message deadlines")
struct MessageDeadlineTests {
    @Test func messageDeadlineWinsWhenPositive() {
        let deadline = MessageDeadline(timeout: 30_000, messageDeadline: 5_000, createdTime: 1_000)
        #expect(deadline?.epochMillis == 5_000)
    }

    @Test func createdTimePlusTimeoutWhenNoAbsoluteDeadline() {
        #expect(MessageDeadline(timeout: 30_000, messageDeadline: -1, createdTime: 1_000)?.epochMillis == 31_000)
        #expect(MessageDeadline(timeout: 30_000, messageDeadline: 0, createdTime: 1_000)?.epochMillis == 31_000)
    }

    @Test func noDeadlineWithoutPositiveTimeoutOrDeadline() {
        #expect(MessageDeadline(timeout: -1, messageDeadline: -1, createdTime: 1_000) == nil)
        #expect(MessageDeadline(timeout: 0, messageDeadline: 0, createdTime: 1_000) == nil)
    }

    @Test func remainingTimeAtInjectedNow() throws {
        let deadline = try #require(MessageDeadline(timeout: 10_000, messageDeadline: -1, createdTime: 100_000))
        #expect(deadline.remainingMillis(now: 100_000) == 10_000)
        #expect(deadline.remaining(now: 103_500) == .milliseconds(6_500))
        #expect(!deadline.hasExpired(now: 109_999))
        #expect(deadline.hasExpired(now: 110_000), "due exactly now counts as expired")
        #expect(deadline.remainingMillis(now: 112_000) == -2_000)
        #expect(deadline.remaining(now: 112_000) == .zero)
    }

    @Test func fromMessageBase() {
        let base = MessageBase(createdTime: 1_740_739_617_000, timeout: 1_800_000, messageDeadline: 1_740_741_417_000)
        #expect(MessageDeadline(base)?.epochMillis == 1_740_741_417_000)
        #expect(MessageDeadline(MessageBase(createdTime: 5)) == nil)
        #expect(MessageDeadline(MessageBase(createdTime: 5, timeout: 1)) == MessageDeadline(epochMillis: 6))
    }

    @Test func extremeValuesDoNotTrap() throws {
        let late = try #require(MessageDeadline(timeout: Int64.max, messageDeadline: -1, createdTime: 10))
        #expect(late.epochMillis == Int64.max)
        #expect(late.remainingMillis(now: -10) == Int64.max)
        let early = MessageDeadline(epochMillis: Int64.min + 1)
        #expect(early.hasExpired(now: Int64.max))
    }
}
