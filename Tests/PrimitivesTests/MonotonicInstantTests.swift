import Primitives
import Testing

/// The continuous clock's instants as one word: the same clock as `ContinuousClock`, conversions both ways, and
/// arithmetic that saturates instead of trapping.
@Suite("MonotonicInstant")
struct MonotonicInstantTests {
    @Test("now reads the clock ContinuousClock reads: both advance together")
    func sameClock() {
        let before = ContinuousClock.now
        let reading = MonotonicInstant.now
        let after = ContinuousClock.now
        // Converted to the other clock, the reading falls between the two reads around it, give or take the origin
        // pair's skew (half its bracket: a microsecond, unless every try at start was preempted). Another clock
        // (CLOCK_MONOTONIC after a suspend, or the wall clock) would be off by seconds to years.
        let converted = reading.continuousInstant
        #expect(converted >= before - .milliseconds(5))
        #expect(converted <= after + .milliseconds(5))
        #expect(MonotonicInstant.now >= reading)
    }

    @Test("an instant converted to ContinuousClock and back is the same nanosecond")
    func roundTrip() {
        let reading = MonotonicInstant.now
        for offset: Int64 in [0, 1, -1, 999, 1_000_000_007, -86_400_000_000_000, 3_600_000_000_000] {
            let instant = reading.advanced(byNanoseconds: offset)
            #expect(MonotonicInstant(instant.continuousInstant) == instant)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        #expect(MonotonicInstant(deadline).continuousInstant == deadline)
    }

    @Test("differences and durations agree with ContinuousClock's")
    func arithmetic() {
        let start = MonotonicInstant(nanoseconds: 5_000_000_000)
        let later = start + .milliseconds(1_500)
        #expect(later.nanoseconds == 6_500_000_000)
        #expect(start.nanoseconds(to: later) == 1_500_000_000)
        #expect(later.nanoseconds(to: start) == -1_500_000_000)
        #expect(start.duration(to: later) == .milliseconds(1_500))
        #expect(start < later)
        #expect(start + .nanoseconds(-1) < start)
        // Sub-nanosecond parts are truncated, as `Duration.inNanoseconds` does.
        #expect((start + .seconds(0.0000000019)).nanoseconds == 5_000_000_001)
    }

    @Test("arithmetic saturates at the bounds instead of trapping")
    func saturation() {
        let top = MonotonicInstant(nanoseconds: .max - 10)
        #expect(top.advanced(byNanoseconds: 100).nanoseconds == .max)
        #expect((top + .seconds(Int64.max)).nanoseconds == .max)
        let bottom = MonotonicInstant(nanoseconds: .min + 10)
        #expect(bottom.advanced(byNanoseconds: -100).nanoseconds == .min)
        #expect(bottom.nanoseconds(to: top) == .max)
        #expect(top.nanoseconds(to: bottom) == .min)
    }
}
