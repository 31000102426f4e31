/// Turns individual acks into as few frames as possible: when the oldest unacked deliveries are
/// all acked, one `multiple` ack covers them. Tags grow monotonically per channel, so the
/// outstanding list stays sorted. Owner-thread only; reset on every new connection epoch.
struct AckBatcher {
    enum Frame: Equatable {
        case ack(tag: UInt64, multiple: Bool)
        case nack(tag: UInt64, requeue: Bool)
    }

    private var outstanding: [UInt64] = []
    private var head = 0
    private var acked: Set<UInt64> = []
    private var negative: [(UInt64, Bool)] = []

    var unacknowledgedCount: Int { outstanding.count - head }

    mutating func delivered(_ tag: UInt64) { outstanding.append(tag) }

    mutating func ack(_ tag: UInt64) { acked.insert(tag) }

    mutating func nack(_ tag: UInt64, requeue: Bool) { negative.append((tag, requeue)) }

    /// The frames to send now, in an order the broker accepts.
    mutating func flush() -> [Frame] {
        guard !acked.isEmpty || !negative.isEmpty else { return [] }
        var frames: [Frame] = []
        // Leading run of acked tags → one frame.
        var runEnd: UInt64?
        var runLength = 0
        while head < outstanding.count, acked.remove(outstanding[head]) != nil {
            runEnd = outstanding[head]
            runLength += 1
            head += 1
        }
        if let runEnd { frames.append(.ack(tag: runEnd, multiple: runLength > 1)) }
        // Acks behind a gap go one by one; they leave the outstanding list.
        if !acked.isEmpty || !negative.isEmpty {
            let removed = acked.union(negative.map(\.0))
            for tag in acked.sorted() { frames.append(.ack(tag: tag, multiple: false)) }
            for (tag, requeue) in negative { frames.append(.nack(tag: tag, requeue: requeue)) }
            outstanding = outstanding[head...].filter { !removed.contains($0) }
            head = 0
            acked.removeAll()
            negative.removeAll()
        }
        if head > 1024 {
            outstanding.removeFirst(head)
            head = 0
        }
        return frames
    }

    mutating func reset() {
        outstanding.removeAll()
        head = 0
        acked.removeAll()
        negative.removeAll()
    }
}
