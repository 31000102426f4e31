@testable import AMQP
import Primitives
import Synchronization
import Testing

@Suite("Ack batching and confirm tracking")
struct BookkeepingTests {
    @Test("contiguous acks from the oldest delivery collapse into one multiple-ack")
    func contiguousAcksCollapse() {
        var batcher = AckBatcher()
        for tag in 1...5 as ClosedRange<UInt64> { batcher.delivered(tag) }
        batcher.ack(2); batcher.ack(1); batcher.ack(3)
        #expect(batcher.flush() == [.ack(tag: 3, multiple: true)])
        #expect(batcher.unacknowledgedCount == 2)
        batcher.ack(5)
        #expect(batcher.flush() == [.ack(tag: 5, multiple: false)])
        #expect(batcher.unacknowledgedCount == 1)
        batcher.ack(4)
        #expect(batcher.flush() == [.ack(tag: 4, multiple: false)])
        #expect(batcher.unacknowledgedCount == 0)
        #expect(batcher.flush() == [])
    }

    @Test("a gap is never covered by a multiple-ack")
    func gapIsRespected() {
        var batcher = AckBatcher()
        for tag in 1...4 as ClosedRange<UInt64> { batcher.delivered(tag) }
        batcher.ack(3); batcher.ack(4)
        #expect(batcher.flush() == [.ack(tag: 3, multiple: false), .ack(tag: 4, multiple: false)])
        batcher.nack(1, requeue: true)
        #expect(batcher.flush() == [.nack(tag: 1, requeue: true)])
        batcher.ack(2)
        #expect(batcher.flush() == [.ack(tag: 2, multiple: false)])
        #expect(batcher.unacknowledgedCount == 0)
    }

    @Test("multiple confirms resolve every earlier publish; returns and nacks are reported")
    func confirmTracker() {
        let results = Mutex<[UInt64: String]>([:])
        var tracker = ConfirmTracker()
        func register(_ mandatory: Bool) -> (UInt64, String?) {
            let expected = tracker.nextSequence
            let registered = tracker.register(mandatory: mandatory, userMessageID: nil, epoch: 7,
                                              deadline: .now + .seconds(60), completion: .call { result in
                results.withLock { $0[expected] = "\(result)" }
            })
            return (registered.sequence, registered.messageID)
        }
        _ = register(false)
        let (second, secondID) = register(true)
        _ = register(false)
        _ = register(false)
        #expect(second == 2)
        #expect(secondID == "cbw.7.2")
        tracker.markReturned(messageID: secondID, replyCode: 312, replyText: "NO_ROUTE")
        tracker.acknowledge(upTo: 3, multiple: true, nack: false)
        tracker.acknowledge(upTo: 4, multiple: false, nack: true)
        #expect(tracker.outstanding == 0)
        let seen = results.withLock { $0 }
        #expect(seen.count == 4)
        #expect(seen[2]?.contains("returned") == true)
        #expect(seen[4]?.contains("nacked") == true)
        #expect(seen[1]?.contains("confirmed") == true)
    }

    @Test("confirms out of order, single and multiple, settle each publish exactly once")
    func confirmsOutOfOrder() {
        let results = Mutex<[UInt64: [String]]>([:])
        var tracker = ConfirmTracker()
        for _ in 1...5 {
            let sequence = tracker.nextSequence
            _ = tracker.register(mandatory: false, userMessageID: nil, epoch: 1, deadline: .now + .seconds(60),
                                 completion: .call { result in
                results.withLock { $0[sequence, default: []].append("\(result)") }
            })
        }
        tracker.acknowledge(upTo: 3, multiple: false, nack: false)
        tracker.acknowledge(upTo: 1, multiple: false, nack: false)
        #expect(tracker.outstanding == 3)
        tracker.acknowledge(upTo: 5, multiple: false, nack: true)
        tracker.acknowledge(upTo: 4, multiple: true, nack: false)  // 2 and 4; 1 and 3 are settled already
        tracker.acknowledge(upTo: 4, multiple: true, nack: false)  // a repeat finds nothing
        tracker.acknowledge(upTo: .max, multiple: true, nack: false)  // a tag past every publish: nothing, at once
        #expect(tracker.outstanding == 0)
        let seen = results.withLock { $0 }
        #expect(seen.keys.sorted() == [1, 2, 3, 4, 5])
        #expect(seen.values.allSatisfy { $0.count == 1 }, "\(seen)")
        #expect(seen[5]?.first?.contains("nacked") == true)
        #expect([1, 2, 3, 4].allSatisfy { seen[$0]?.first?.contains("confirmed") == true })
        // Numbering goes on; a thousand more, confirmed as they go, leave nothing behind.
        #expect(tracker.nextSequence == 6)
        for _ in 0..<1_000 {
            let (sequence, _) = tracker.register(mandatory: true, userMessageID: nil, epoch: 1,
                                                 deadline: .now + .seconds(60), completion: nil)
            tracker.acknowledge(upTo: sequence, multiple: false, nack: false)
        }
        #expect(tracker.outstanding == 0)
        #expect(tracker.nextSequence == 1_006)
    }

    @Test("a return marks the oldest outstanding publish of its message id that has none yet")
    func returnsInPublishOrder() {
        let results = Mutex<[UInt64: String]>([:])
        var tracker = ConfirmTracker()
        for _ in 1...3 {
            let sequence = tracker.nextSequence
            _ = tracker.register(mandatory: true, userMessageID: "reply-1", epoch: 1, deadline: .now + .seconds(60),
                                 completion: .call { result in results.withLock { $0[sequence] = "\(result)" } })
        }
        tracker.markReturned(messageID: "reply-1", replyCode: 312, replyText: "NO_ROUTE")
        tracker.markReturned(messageID: "reply-1", replyCode: 312, replyText: "NO_ROUTE")
        tracker.markReturned(messageID: "another", replyCode: 312, replyText: "NO_ROUTE")
        tracker.acknowledge(upTo: 3, multiple: true, nack: false)
        let seen = results.withLock { $0 }
        #expect(seen[1]?.contains("returned") == true)
        #expect(seen[2]?.contains("returned") == true)
        #expect(seen[3]?.contains("confirmed") == true)
    }

    @Test("a rolled-back last publish gives its number back, expired or not")
    func rollbackReusesTheNumber() {
        var tracker = ConfirmTracker()
        let start = MonotonicInstant.now
        _ = tracker.register(mandatory: false, userMessageID: nil, epoch: 1, deadline: start + .seconds(60),
                             completion: nil)
        let (second, _) = tracker.register(mandatory: false, userMessageID: nil, epoch: 1,
                                           deadline: start + .seconds(60), completion: nil)
        tracker.rollback(sequence: second)
        #expect(tracker.nextSequence == 2)
        #expect(tracker.outstanding == 1)
        // Expired first, then rolled back: the number comes back all the same, and the next publish takes it.
        #expect(tracker.expire(now: start + .seconds(61)) == 1)
        let (again, _) = tracker.register(mandatory: false, userMessageID: nil, epoch: 1,
                                          deadline: start + .seconds(1), completion: nil)
        #expect(again == 2)
        #expect(tracker.expire(now: start + .seconds(2)) == 1)
        tracker.rollback(sequence: again)
        #expect(tracker.nextSequence == 2)
        let confirmed = Atomic<Bool>(false)
        let (third, _) = tracker.register(mandatory: false, userMessageID: nil, epoch: 1,
                                          deadline: start + .seconds(60),
                                          completion: .call { _ in confirmed.store(true, ordering: .relaxed) })
        #expect(third == 2)
        tracker.acknowledge(upTo: 2, multiple: false, nack: false)
        let wasConfirmed = confirmed.load(ordering: .relaxed)
        #expect(wasConfirmed)
        #expect(tracker.outstanding == 0)
    }

    @Test("a lost channel fails every outstanding confirm")
    func failAll() {
        let failures = Atomic<Int>(0)
        var tracker = ConfirmTracker()
        for _ in 0..<3 {
            _ = tracker.register(mandatory: false, userMessageID: nil, epoch: 1, deadline: .now + .seconds(60),
                                 completion: .call { result in
                if case .failure = result { failures.add(1, ordering: .relaxed) }
            })
        }
        tracker.failAll(.connectionLost(reason: "test"))
        #expect(failures.load(ordering: .relaxed) == 3)
        #expect(tracker.nextSequence == 1)
    }

    @Test("a publish not confirmed by its deadline fails with confirmTimeout; a late confirm finds nothing")
    func confirmDeadline() {
        let results = Mutex<[UInt64: String]>([:])
        var tracker = ConfirmTracker()
        let start = MonotonicInstant.now
        for (index, wait) in [Duration.seconds(1), .seconds(2), .seconds(3)].enumerated() {
            let sequence = UInt64(index + 1)
            _ = tracker.register(mandatory: true, userMessageID: nil, epoch: 1, deadline: start + wait,
                                 completion: .call { result in
                results.withLock { $0[sequence] = "\(result)" }
            })
        }
        #expect(tracker.expire(now: start) == 0)
        #expect(tracker.expire(now: start + .milliseconds(2_500)) == 2)
        #expect(tracker.outstanding == 1)
        tracker.acknowledge(upTo: 3, multiple: true, nack: false)  // 1 and 2 are gone: only 3 is confirmed
        let seen = results.withLock { $0 }
        #expect(seen[1] == "\(Result<PublishOutcome, AMQPError>.failure(.confirmTimeout))")
        #expect(seen[2] == "\(Result<PublishOutcome, AMQPError>.failure(.confirmTimeout))")
        #expect(seen[3]?.contains("confirmed") == true)
        #expect(tracker.outstanding == 0)
    }

    @Test("only confirms something besides bookkeeping waits for are urgent, through acks, rollback, expiry and failure")
    func urgentConfirms() {
        var tracker = ConfirmTracker()
        let start = MonotonicInstant.now
        // 1 and 3 may wait (replies), 2 and 4 may not (outputs sent before a reply).
        for (index, mayWait) in [true, false, true, false].enumerated() {
            _ = tracker.register(mandatory: true, userMessageID: nil, epoch: 1,
                                 deadline: start + .seconds(index == 1 ? 1 : 60), mayWait: mayWait, completion: nil)
        }
        #expect(tracker.urgent == 2)
        tracker.rollback(sequence: 4)  // not written: gone, and with it its urgency
        #expect(tracker.urgent == 1 && tracker.outstanding == 3)
        tracker.acknowledge(upTo: 1, multiple: false, nack: false)  // a reply's confirm: no change
        #expect(tracker.urgent == 1)
        #expect(tracker.expire(now: start + .seconds(2)) == 1)  // the output's confirm timed out
        #expect(tracker.urgent == 0 && tracker.outstanding == 1)
        _ = tracker.register(mandatory: false, userMessageID: nil, epoch: 1, deadline: start + .seconds(60),
                             completion: nil)  // the default: urgent
        #expect(tracker.urgent == 1)
        tracker.acknowledge(upTo: 4, multiple: true, nack: true)  // 3 and the new 4, nacked
        #expect(tracker.urgent == 0 && tracker.outstanding == 0)
        _ = tracker.register(mandatory: false, userMessageID: nil, epoch: 1, deadline: start + .seconds(60),
                             completion: nil)
        tracker.failAll(.connectionLost(reason: "test"))
        #expect(tracker.urgent == 0 && tracker.outstanding == 0)
    }
}

@Suite("Mailbox order when a borrowed pass gives commands back")
struct MailboxRequeueTests {
    /// The publishes that were refused, in the order they were.
    private final class Refusals: Sendable {
        let keys = Mutex<[String]>([])
    }

    private static func publish(_ key: String, refusals: Refusals = Refusals()) -> Command {
        .publish(OutgoingMessage(exchange: "", routingKey: key, body: []), completion: .call { result in
            if case .failure = result { refusals.keys.withLock { $0.append(key) } }
        })
    }

    private static func keys(_ commands: [Command]) -> [String] {
        commands.map { command in
            guard case .publish(let message, _) = command else { return "?" }
            return message.routingKey
        }
    }

    @Test("commands given back go before those posted meanwhile, in their order")
    func givenBackGoFirst() {
        let mailbox = Mailbox()
        for key in ["a", "b", "c"] { _ = mailbox.postWithoutWaking(Self.publish(key)) }
        let taken = mailbox.drain()
        _ = mailbox.postWithoutWaking(Self.publish("d"))
        mailbox.requeueAtFront(taken[1...])
        #expect(Self.keys(mailbox.drain()) == ["b", "c", "d"])
    }

    @Test("only the first post into an empty mailbox asks for a wake-up; a closed mailbox refuses posts and give-backs")
    func wakeUpsAndRefusals() {
        let mailbox = Mailbox()
        let refusals = Refusals()
        #expect(mailbox.postWithoutWaking(Self.publish("a", refusals: refusals)))
        #expect(!mailbox.postWithoutWaking(Self.publish("b", refusals: refusals)))
        let taken = mailbox.drain()
        #expect(mailbox.close().isEmpty)
        #expect(!mailbox.postWithoutWaking(Self.publish("c", refusals: refusals)))
        mailbox.requeueAtFront(taken[...])
        #expect(refusals.keys.withLock { $0 } == ["c", "a", "b"])
    }
}
