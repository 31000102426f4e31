import Primitives
import Testing

@Suite("Duration units")
struct DurationUnitsTests {
    @Test func wholeUnitsTruncateTowardZero() {
        let duration = Duration.seconds(2) + .nanoseconds(1_999_999)
        #expect(duration.inMilliseconds == 2_001)
        #expect(duration.inMicroseconds == 2_001_999)
        #expect(duration.inNanoseconds == 2_001_999_999)
        #expect(Duration.nanoseconds(999_999).inMilliseconds == 0)
    }

    @Test func negativeDurationsTruncateTowardZeroToo() {
        #expect(Duration.milliseconds(-1_500).inMilliseconds == -1_500)
        #expect((Duration.zero - .nanoseconds(1_999_999)).inMilliseconds == -1)
    }

    @Test func secondsAsDouble() {
        #expect(Duration.milliseconds(1_500).inSeconds == 1.5)
        #expect(Duration.zero.inSeconds == 0)
    }

    @Test func saturatesInsteadOfTrapping() {
        let huge = Duration.seconds(Int64.max / 10)
        #expect(huge.inNanoseconds == .max)
        #expect((Duration.zero - huge).inNanoseconds == .min)
        #expect(huge.inMilliseconds == .max)
        #expect(Duration.seconds(Int64.max / 1_000_000).inMilliseconds == (Int64.max / 1_000_000) * 1_000)
    }
}
