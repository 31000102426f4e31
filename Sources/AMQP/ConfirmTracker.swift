import Primitives

/// Publisher-confirm bookkeeping for one channel epoch (rabbitmq-c 0.11 has no confirm API).
///
/// The broker numbers publishes 1, 2, 3… from `confirm.select`; `basic.ack`/`basic.nack` carry
/// that number, with `multiple` covering everything up to it. A mandatory message that cannot be
/// routed comes back as `basic.return` *before* its ack; returns are matched to their publish by
/// the message-id property, which this tracker assigns. Owner-thread only.
struct ConfirmTracker {
    typealias Completion = PublishCompletion

    private struct Pending {
        var completion: Completion?
        var returned: (UInt16, String)?
        /// The message id a `basic.return` would carry, for mandatory publishes.
        var returnKey: String?
        /// When the caller stops waiting for the confirm.
        var deadline: ContinuousClock.Instant
    }

    private var pending: [UInt64: Pending] = [:]
    private var returnKeys: [String: UInt64] = [:]
    private(set) var nextSequence: UInt64 = 1
    private var lowestUnconfirmed: UInt64 = 1

    var outstanding: Int { pending.count }

    /// Registers the next publish and returns the message id to stamp on it when it is mandatory.
    mutating func register(mandatory: Bool, userMessageID: String?, epoch: UInt64, deadline: ContinuousClock.Instant,
                           completion: Completion?) -> (sequence: UInt64, messageID: String?) {
        let sequence = nextSequence
        nextSequence += 1
        // `updateValue`, not `pending[sequence] = …` or `pending[sequence]?.field = …`: the subscript's modify
        // coroutine does not fit the caller's fixed frame buffer for a value this large and mallocs its frame.
        guard mandatory else {
            pending.updateValue(Pending(completion: completion, deadline: deadline), forKey: sequence)
            return (sequence, nil)
        }
        let key = userMessageID ?? "cbw.\(epoch).\(sequence)"
        returnKeys.updateValue(sequence, forKey: key)
        pending.updateValue(Pending(completion: completion, returnKey: key, deadline: deadline), forKey: sequence)
        return (sequence, userMessageID == nil ? key : nil)
    }

    /// A publish that failed locally never reaches the broker; its number is still consumed
    /// only if rabbitmq-c wrote the frame, which a failed publish did not. Roll it back.
    mutating func rollback(sequence: UInt64) {
        if let entry = pending.removeValue(forKey: sequence) {
            if let key = entry.returnKey { returnKeys.removeValue(forKey: key) }
            entry.completion?(.failure(.connectionLost(reason: "publish not written")))
        }
        if sequence == nextSequence - 1 { nextSequence = sequence }
    }

    mutating func markReturned(messageID: String?, replyCode: UInt16, replyText: String) {
        guard let messageID, let sequence = returnKeys[messageID] else { return }
        pending[sequence]?.returned = (replyCode, replyText)
    }

    mutating func acknowledge(upTo tag: UInt64, multiple: Bool, nack: Bool) {
        let range: ClosedRange<UInt64> = multiple ? lowestUnconfirmed...max(lowestUnconfirmed, tag) : tag...tag
        for sequence in range {
            guard let entry = pending.removeValue(forKey: sequence) else { continue }
            if let key = entry.returnKey { returnKeys.removeValue(forKey: key) }
            if nack {
                entry.completion?(.failure(.publishNacked(deliveryTag: sequence)))
            } else if let (code, text) = entry.returned {
                entry.completion?(.success(.returned(replyCode: code, replyText: text)))
            } else {
                entry.completion?(.success(.confirmed))
            }
        }
        while lowestUnconfirmed < nextSequence && pending[lowestUnconfirmed] == nil { lowestUnconfirmed += 1 }
    }

    /// Fails the publishes whose confirm did not come by their deadline (a broker that blocks publishers never
    /// confirms) with ``AMQPError/confirmTimeout`` and forgets them; a confirm that arrives later finds nothing.
    /// Deadlines grow with the sequence (one timeout for every publish), so the expired ones are the oldest.
    /// Returns how many expired.
    mutating func expire(now: ContinuousClock.Instant) -> Int {
        var expired = 0
        while lowestUnconfirmed < nextSequence {
            guard let entry = pending[lowestUnconfirmed] else {
                lowestUnconfirmed += 1
                continue
            }
            guard entry.deadline <= now else { break }
            pending[lowestUnconfirmed] = nil
            if let key = entry.returnKey { returnKeys[key] = nil }
            entry.completion?(.failure(.confirmTimeout))
            expired += 1
            lowestUnconfirmed += 1
        }
        return expired
    }

    /// The channel is gone: nothing outstanding will ever be confirmed.
    mutating func failAll(_ error: AMQPError) {
        let entries = pending
        pending.removeAll()
        returnKeys.removeAll()
        nextSequence = 1
        lowestUnconfirmed = 1
        for (_, entry) in entries.sorted(by: { $0.key < $1.key }) { entry.completion?(.failure(error)) }
    }
}

/// Who hears a publish's outcome, exactly once: a suspended `AMQPConnection.publish` (its continuation, held as it
/// is — a closure around it was an allocation per publish) or a callback.
enum PublishCompletion: Sendable {
    case resume(OneShotContinuation<Result<PublishOutcome, AMQPError>>)
    case call(@Sendable (Result<PublishOutcome, AMQPError>) -> Void)

    func callAsFunction(_ result: Result<PublishOutcome, AMQPError>) {
        switch self {
        case .resume(let continuation): continuation.resume(returning: result)
        case .call(let callback): callback(result)
        }
    }
}
