/// The unit conversions the wire, the store and the C library need, in one place: ZStack and AMQP speak whole
/// milliseconds, `timeval` microseconds, SQLite and reports seconds as a floating-point number.
///
/// Whole-unit conversions truncate toward zero (a deadline 1.9 ms away is 1 ms away, never 2) and do not trap:
/// they saturate at `Int64`'s bounds, which no duration the worker handles comes near.
extension Duration {
    /// Whole milliseconds, truncated toward zero.
    public var inMilliseconds: Int64 { wholeUnits(perSecond: 1_000) }

    /// Whole microseconds, truncated toward zero.
    public var inMicroseconds: Int64 { wholeUnits(perSecond: 1_000_000) }

    /// Whole nanoseconds, truncated toward zero.
    public var inNanoseconds: Int64 { wholeUnits(perSecond: 1_000_000_000) }

    /// Seconds as a `Double` (attosecond precision is rounded to what a `Double` holds).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    private func wholeUnits(perSecond units: Int64) -> Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: units)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = whole.addingReportingOverflow(attoseconds / (1_000_000_000_000_000_000 / units))
        if sumOverflow { return seconds < 0 ? .min : .max }
        return sum
    }
}
