/// When a request stops being worth answering with a result: the point after which the sender's timer has fired
/// and any reply but SYS.1001 would be dropped as late.
///
/// `messageDeadline` (absolute epoch ms) wins when it is > 0; otherwise `createdTime + timeout` when `timeout` > 0;
/// otherwise there is no deadline. All functions are pure: "now" is always passed in.
public struct MessageDeadline: Sendable, Hashable, Comparable {
    /// The deadline in epoch milliseconds.
    public let epochMillis: Int64

    public init(epochMillis: Int64) {
        self.epochMillis = epochMillis
    }

    /// The deadline of a message with these fields, or nil when it has none.
    public init?(timeout: Int64, messageDeadline: Int64, createdTime: Int64) {
        if messageDeadline > 0 {
            epochMillis = messageDeadline
        } else if timeout > 0 {
            let (sum, overflow) = createdTime.addingReportingOverflow(timeout)
            epochMillis = overflow ? Int64.max : sum
        } else {
            return nil
        }
    }

    /// The deadline of `base`, or nil when it has none.
    public init?(_ base: MessageBase) {
        self.init(timeout: base.timeout, messageDeadline: base.messageDeadline, createdTime: base.createdTime)
    }

    /// Milliseconds left at `now` (epoch ms); zero or negative once the deadline has passed.
    public func remainingMillis(now: Int64) -> Int64 {
        let (difference, overflow) = epochMillis.subtractingReportingOverflow(now)
        if overflow { return now < 0 ? Int64.max : Int64.min }
        return difference
    }

    /// Time left at `now`, clamped at zero (usable directly as a timeout).
    public func remaining(now: Int64) -> Duration {
        .milliseconds(max(0, remainingMillis(now: now)))
    }

    /// Whether the deadline has passed at `now` (a request due exactly now counts as expired).
    public func hasExpired(now: Int64) -> Bool {
        remainingMillis(now: now) <= 0
    }

    public static func < (lhs: MessageDeadline, rhs: MessageDeadline) -> Bool {
        lhs.epochMillis < rhs.epochMillis
    }
}
