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
        /// When the caller stops waiting for the confirm (a `MonotonicInstant`: a resilient `ContinuousClock.Instant`
        /// here made every window slot's copy and destroy a run-time value-witness call).
        var deadline: MonotonicInstant
        /// Only bookkeeping waits for this confirm (``OutgoingMessage/confirmMayWait``).
        var mayWait = false
    }

    /// Outstanding publishes in sequence order, from `lowestUnconfirmed` on: `window[head + i]` is publish
    /// `lowestUnconfirmed + i`, nil once settled out of order. Sequences are dense and confirms come mostly in order,
    /// so an array with a moving head replaces a dictionary keyed by sequence (and a second one keyed by message id:
    /// a `basic.return` is rare and finds its publish by scanning the window) — two hashed inserts and two removals
    /// per publish, one of them a string's.
    private var window: [Pending?] = []
    private var head = 0
    private(set) var nextSequence: UInt64 = 1
    /// The window's first publish: the window holds every number from it to the last one registered.
    private var lowestUnconfirmed: UInt64 { nextSequence - UInt64(window.count - head) }

    private(set) var outstanding = 0
    /// Outstanding publishes whose confirm something other than bookkeeping waits for: while there are any, a reader
    /// must not put off reading this connection's confirms.
    private(set) var urgent = 0

    /// Registers the next publish and returns the message id to stamp on it when it is mandatory.
    mutating func register(mandatory: Bool, userMessageID: String?, epoch: UInt64, deadline: MonotonicInstant,
                           mayWait: Bool = false, completion: Completion?) -> (sequence: UInt64, messageID: String?) {
        let sequence = nextSequence
        nextSequence += 1
        outstanding += 1
        if !mayWait { urgent += 1 }
        guard mandatory else {
            window.append(Pending(completion: completion, deadline: deadline, mayWait: mayWait))
            return (sequence, nil)
        }
        let key = userMessageID ?? "cbw.\(epoch).\(sequence)"
        window.append(Pending(completion: completion, returnKey: key, deadline: deadline, mayWait: mayWait))
        return (sequence, userMessageID == nil ? key : nil)
    }

    /// A publish that failed locally never reaches the broker; its number is still consumed
    /// only if rabbitmq-c wrote the frame, which a failed publish did not. Roll it back.
    mutating func rollback(sequence: UInt64) {
        if let entry = take(sequence) {
            entry.completion?(.failure(.connectionLost(reason: "publish not written")))
        }
        if sequence == nextSequence - 1 {
            // The number is used again: its slot, the last, goes (unless it expired and left the window already).
            if head < window.count { window.removeLast() }
            nextSequence = sequence
        }
        trim()
    }

    mutating func markReturned(messageID: String?, replyCode: UInt16, replyText: String) {
        guard let messageID else { return }
        // Returns come in publish order: the oldest outstanding publish with that id and no return yet (a reply sent
        // again keeps its message id).
        for index in head..<window.count {
            guard let entry = window[index], entry.returned == nil, entry.returnKey == messageID else { continue }
            window[index]?.returned = (replyCode, replyText)
            return
        }
    }

    mutating func acknowledge(upTo tag: UInt64, multiple: Bool, nack: Bool) {
        // A tag past the last publish (a confused broker) covers no more than what is outstanding.
        let last = min(tag, nextSequence - 1)
        let range: ClosedRange<UInt64> = multiple ? lowestUnconfirmed...max(lowestUnconfirmed, last) : tag...tag
        for sequence in range {
            guard let entry = take(sequence) else { continue }
            if nack {
                entry.completion?(.failure(.publishNacked(deliveryTag: sequence)))
            } else if let (code, text) = entry.returned {
                entry.completion?(.success(.returned(replyCode: code, replyText: text)))
            } else {
                entry.completion?(.success(.confirmed))
            }
        }
        trim()
    }

    /// Fails the publishes whose confirm did not come by their deadline (a broker that blocks publishers never
    /// confirms) with ``AMQPError/confirmTimeout`` and forgets them; a confirm that arrives later finds nothing.
    /// Deadlines grow with the sequence (one timeout for every publish), so the expired ones are the oldest.
    /// Returns how many expired.
    mutating func expire(now: MonotonicInstant) -> Int {
        var expired = 0
        while head < window.count {
            guard let entry = window[head] else {
                head += 1
                continue
            }
            guard entry.deadline <= now else { break }
            _ = take(lowestUnconfirmed)  // the entry at the head: its slot and counts go as a confirm's would
            head += 1
            entry.completion?(.failure(.confirmTimeout))
            expired += 1
        }
        trim()
        return expired
    }

    /// The channel is gone: nothing outstanding will ever be confirmed.
    mutating func failAll(_ error: AMQPError) {
        let entries = window[head...]
        window = []
        head = 0
        outstanding = 0
        urgent = 0
        nextSequence = 1
        for entry in entries { entry?.completion?(.failure(error)) }
    }

    /// Takes publish `sequence`'s entry out of the window, if it is still there.
    private mutating func take(_ sequence: UInt64) -> Pending? {
        guard sequence >= lowestUnconfirmed, sequence < nextSequence else { return nil }
        let index = head + Int(sequence - lowestUnconfirmed)
        guard let entry = window[index] else { return nil }
        window[index] = nil
        outstanding -= 1
        if !entry.mayWait { urgent -= 1 }
        return entry
    }

    /// Moves the head past settled publishes; empties the array when nothing is outstanding and drops the settled
    /// prefix once it is half of it, so the window's memory follows what is outstanding.
    private mutating func trim() {
        while head < window.count, window[head] == nil { head += 1 }
        if head == window.count {
            window.removeAll(keepingCapacity: window.capacity <= 4096)
            head = 0
        } else if head >= 64, head * 2 >= window.count {
            window.removeFirst(head)
            head = 0
        }
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
