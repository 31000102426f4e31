#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time on the continuous clock (monotonic, counting time asleep: `ContinuousClock`'s clock), as whole
/// nanoseconds, in a type whose layout the compiler knows.
///
/// Why not `ContinuousClock.Instant`: it is resilient (not `@frozen`), so a struct holding one is copied and destroyed
/// through run-time value witnesses, and an async function that keeps one across an `await` allocates it from the task
/// allocator. Every message carried two of them (its receive time, its handler's deadline) and every publish one (its
/// confirm deadline). These are one word, read with one `clock_gettime`, and convert at the edges
/// (``continuousInstant``, ``init(_:)``).
///
/// Arithmetic saturates at `Int64`'s bounds (a deadline centuries away stays centuries away), never traps.
public struct MonotonicInstant: Comparable, Hashable, Sendable {
    /// Nanoseconds since the clock's own origin (boot, on Linux).
    public let nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// Now, on the clock `ContinuousClock` reads.
    public static var now: MonotonicInstant {
        var time = timespec()
        #if os(Linux)
        clock_gettime(CLOCK_BOOTTIME, &time)
        #else
        clock_gettime(CLOCK_MONOTONIC, &time)
        #endif
        return MonotonicInstant(nanoseconds: Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec))
    }

    /// The same point as `instant`.
    public init(_ instant: ContinuousClock.Instant) {
        let origin = Self.origin
        self = origin.reading.advanced(byNanoseconds: origin.instant.duration(to: instant).inNanoseconds)
    }

    /// The same point on `ContinuousClock`.
    public var continuousInstant: ContinuousClock.Instant {
        let origin = Self.origin
        return origin.instant.advanced(by: .nanoseconds(Self.difference(origin.reading.nanoseconds, nanoseconds)))
    }

    /// `nanoseconds` later (earlier when negative), saturating.
    public func advanced(byNanoseconds offset: Int64) -> MonotonicInstant {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(offset)
        return MonotonicInstant(nanoseconds: overflow ? (offset < 0 ? .min : .max) : sum)
    }

    /// Nanoseconds from this instant to `other` (negative when `other` is earlier), saturating.
    public func nanoseconds(to other: MonotonicInstant) -> Int64 {
        Self.difference(nanoseconds, other.nanoseconds)
    }

    /// The time from this instant to `other`.
    public func duration(to other: MonotonicInstant) -> Duration { .nanoseconds(nanoseconds(to: other)) }

    public static func + (instant: MonotonicInstant, duration: Duration) -> MonotonicInstant {
        instant.advanced(byNanoseconds: duration.inNanoseconds)
    }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    private static func difference(_ from: Int64, _ to: Int64) -> Int64 {
        let (difference, overflow) = to.subtractingReportingOverflow(from)
        return overflow ? (to < from ? .min : .max) : difference
    }

    /// One reading of both clocks, taken once: the conversions to and from `ContinuousClock.Instant` go through it
    /// (there is no public way to build an `Instant` from a number). Both read the same clock on Linux; the pair is
    /// off by at most half the time between the two readings that bracket `ContinuousClock`'s, and of a few tries
    /// the tightest bracket is kept (a thread preempted mid-read would otherwise skew every conversion after it).
    private static let origin: (reading: MonotonicInstant, instant: ContinuousClock.Instant) = {
        var best: (reading: MonotonicInstant, instant: ContinuousClock.Instant, bracket: Int64)?
        for _ in 0..<8 {
            let before = MonotonicInstant.now
            let instant = ContinuousClock.now
            let after = MonotonicInstant.now
            let bracket = before.nanoseconds(to: after)
            if best.map({ bracket < $0.bracket }) ?? true {
                best = (before.advanced(byNanoseconds: bracket / 2), instant, bracket)
            }
            if bracket < 1_000 { break }
        }
        guard let best else { preconditionFailure("unreachable: the loop runs at least once") }
        return (best.reading, best.instant)
    }()
}
