import Foundation

/// Wall-clock time as ZStack writes it: milliseconds since 1970-01-01T00:00:00Z (`System.currentTimeMillis()`).
public enum EpochMillis {
    /// The current wall-clock time. Pure code takes a `now` parameter instead and callers pass this.
    public static func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
