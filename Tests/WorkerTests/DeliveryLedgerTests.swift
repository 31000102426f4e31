import AMQP
import Foundation
import Inventory
import Testing
@testable import Worker

@Suite("Delivery ledger: one lock, answers remembered with their reply")
struct DeliveryLedgerTests {
    private static func copy(_ value: UInt64, replyTo: String? = "inbox", redelivered: Bool = false) -> ParkedCopy {
        ParkedCopy(tag: DeliveryTag(epoch: 1, value: value, acknowledgeable: true), replyTo: replyTo,
                   redelivered: redelivered)
    }

    private static func answer(_ text: String) -> Answer { Answer(reply: Array(text.utf8)) }

    @Test("first sighting, a copy while in flight is parked, then every later copy gets the same answer")
    func lifecycleOfOneId() {
        let ledger = DeliveryLedger(capacity: 8)
        #expect(ledger.admit(id: "a", copy: Self.copy(1)) == .first)
        #expect(ledger.admit(id: "a", copy: Self.copy(2)) == .parked)
        #expect(ledger.admit(id: "a", copy: Self.copy(3, redelivered: true)) == .parked)
        let parked = ledger.finish(id: "a", answer: Self.answer("reply-a"))
        #expect(parked.map(\.tag.value) == [2, 3])
        #expect(parked.map(\.redelivered) == [false, true])
        #expect(ledger.admit(id: "a", copy: Self.copy(4)) == .answered(Self.answer("reply-a")))
        #expect(ledger.admit(id: "a", copy: Self.copy(5)) == .answered(Self.answer("reply-a")))
    }

    @Test("a window as large as the setting allows (Int.max) reserves a bounded table and still works")
    func unboundedWindowReservesABoundedTable() {
        // The table is reserved up front for the window: a huge window must neither overflow nor reserve it all.
        let ledger = DeliveryLedger(capacity: Int.max)
        for value: UInt64 in 1...3 {
            let id = String(format: "%032llx", value)
            #expect(ledger.admit(id: id, copy: Self.copy(value)) == .first)
            #expect(ledger.finish(id: id, answer: Self.answer("r\(value)")).isEmpty)
        }
        #expect(ledger.answeredCount == 3)
        #expect(ledger.admit(id: String(format: "%032llx", UInt64(2)), copy: Self.copy(9)) == .answered(Self.answer("r2")))
    }

    @Test("ids are keyed by their 128 bits; a malformed id gets a key of its own that no hex id can take")
    func messageKeys() throws {
        let id = "f366ad3eff954f0fbf9e572ac462ff7b"
        let key = try #require(MessageKey(hex: id))
        #expect(key.high == 0xf366_ad3e_ff95_4f0f && key.low == 0xbf9e_572a_c462_ff7b && !key.isHash)
        #expect(MessageKey(hex: "F366AD3EFF954F0FBF9E572AC462FF7B") == nil)  // ZStack writes lowercase only
        #expect(MessageKey(hex: id + "0") == nil)
        #expect(MessageKey(hex: String(id.dropLast())) == nil)
        let malformed = MessageKey("not-an-id")
        #expect(malformed.isHash && malformed == MessageKey("not-an-id") && malformed != MessageKey("other"))
        // Distinct ids stay distinct in the ledger, whichever way they are keyed.
        let ledger = DeliveryLedger(capacity: 8)
        #expect(ledger.admit(id: id, copy: Self.copy(1)) == .first)
        #expect(ledger.admit(id: "f366ad3eff954f0fbf9e572ac462ff7c", copy: Self.copy(2)) == .first)
        #expect(ledger.admit(id: "not-an-id", copy: Self.copy(3)) == .first)
        #expect(ledger.admit(id: id, copy: Self.copy(4)) == .parked)
    }

    @Test("an abandoned id is forgotten with its parked copies: the broker's redelivery runs afresh")
    func abandonForgets() {
        let ledger = DeliveryLedger(capacity: 8)
        #expect(ledger.admit(id: "b", copy: Self.copy(1)) == .first)
        #expect(ledger.admit(id: "b", copy: Self.copy(2)) == .parked)
        #expect(ledger.abandon(id: "b").map(\.tag.value) == [2])
        #expect(ledger.admit(id: "b", copy: Self.copy(3)) == .first)
        #expect(ledger.answeredCount == 0)
    }

    @Test("one word per remembered id; copies parked behind two ids in flight go back with their own id only")
    func entriesAndParkedCopies() {
        // The window holds 65,536 entries: a payload on the in-flight case made each 16 bytes (+1 MB peak RSS).
        #expect(MemoryLayout<DeliveryLedger.Entry>.stride == 8)
        let ledger = DeliveryLedger(capacity: 8)
        #expect(ledger.admit(id: "a", copy: Self.copy(1)) == .first)
        #expect(ledger.admit(id: "b", copy: Self.copy(2)) == .first)
        #expect(ledger.admit(id: "a", copy: Self.copy(3)) == .parked)
        #expect(ledger.admit(id: "b", copy: Self.copy(4)) == .parked)
        #expect(ledger.admit(id: "a", copy: Self.copy(5)) == .parked)
        #expect(ledger.finish(id: "a", answer: Self.answer("reply-a")).map(\.tag.value) == [3, 5])
        #expect(ledger.abandon(id: "b").map(\.tag.value) == [4])
        // Nothing stays parked: a is answered, b runs afresh and finishes with no copies behind it.
        #expect(ledger.admit(id: "a", copy: Self.copy(6)) == .answered(Self.answer("reply-a")))
        #expect(ledger.admit(id: "b", copy: Self.copy(7)) == .first)
        #expect(ledger.finish(id: "b", answer: .none).isEmpty)
        #expect(ledger.abandon(id: "a").isEmpty)  // answered: not abandoned, still answered
        #expect(ledger.admit(id: "a", copy: Self.copy(8)) == .answered(Self.answer("reply-a")))
        #expect(ledger.answeredCount == 2)
    }

    @Test("a message answered without a reply is still remembered: its copies are acked, not run again")
    func answeredWithoutReply() {
        let ledger = DeliveryLedger(capacity: 8)
        _ = ledger.admit(id: "c", copy: Self.copy(1, replyTo: nil))
        _ = ledger.finish(id: "c", answer: .none)
        #expect(ledger.admit(id: "c", copy: Self.copy(2, replyTo: nil)) == .answered(.none))
    }

    @Test("bounded by count: the oldest answers are forgotten first")
    func evictsByCount() {
        let ledger = DeliveryLedger(capacity: 3)
        for id in ["1", "2", "3", "4", "5"] {
            _ = ledger.admit(id: id, copy: Self.copy(1))
            _ = ledger.finish(id: id, answer: Self.answer(id))
        }
        #expect(ledger.answeredCount == 3)
        #expect(ledger.admit(id: "1", copy: Self.copy(9)) == .first)
        #expect(ledger.admit(id: "2", copy: Self.copy(9)) == .first)
        #expect(ledger.admit(id: "5", copy: Self.copy(9)) == .answered(Self.answer("5")))
    }

    @Test("reply bytes in memory are bounded: the oldest are left to the store, their ids still answered")
    func evictsBodiesByBytes() {
        let ledger = DeliveryLedger(capacity: 1_000, maxCachedBytes: 250)
        let body = [UInt8](repeating: 0x41, count: 100)
        for index in 0..<5 {
            let id = "big\(index)"
            _ = ledger.admit(id: id, copy: Self.copy(1))
            _ = ledger.finish(id: id, answer: Answer(reply: body))
        }
        #expect(ledger.answeredCount == 5)
        #expect(ledger.admit(id: "big0", copy: Self.copy(9)) == .answered(.inStore))
        #expect(ledger.admit(id: "big2", copy: Self.copy(9)) == .answered(.inStore))
        #expect(ledger.admit(id: "big3", copy: Self.copy(9)) == .answered(Answer(reply: body)))
        #expect(ledger.admit(id: "big4", copy: Self.copy(9)) == .answered(Answer(reply: body)))
    }

    @Test("answers that leave the window give their bytes back to the bound: the ones still in it stay cached")
    func evictedRepliesLeaveTheBound() {
        let ledger = DeliveryLedger(capacity: 2, maxCachedBytes: 250)
        let body = [UInt8](repeating: 0x41, count: 100)
        for index in 0..<50 {
            _ = ledger.admit(id: "r\(index)", copy: Self.copy(1))
            _ = ledger.finish(id: "r\(index)", answer: Answer(reply: body))
        }
        #expect(ledger.answeredCount == 2)
        #expect(ledger.admit(id: "r48", copy: Self.copy(9)) == .answered(Answer(reply: body)))
        #expect(ledger.admit(id: "r49", copy: Self.copy(9)) == .answered(Answer(reply: body)))
    }

    @Test("the bound counts what a cached reply occupies (its buffer's capacity), not just its length")
    func boundCountsCapacity() {
        let ledger = DeliveryLedger(capacity: 1_000, maxCachedBytes: 250)
        var body = [UInt8](repeating: 0x41, count: 10)
        body.reserveCapacity(200)  // an encoder's buffer holding a short reply
        for index in 0..<3 {
            _ = ledger.admit(id: "small\(index)", copy: Self.copy(1))
            _ = ledger.finish(id: "small\(index)", answer: Answer(reply: body))
        }
        #expect(ledger.admit(id: "small1", copy: Self.copy(9)) == .answered(.inStore))
        #expect(ledger.admit(id: "small2", copy: Self.copy(9)) == .answered(Answer(reply: body)))
    }

    @Test("the window slides over 20,000 answers and keeps exactly the last 16, each with its own reply")
    func orderCompacts() {
        let ledger = DeliveryLedger(capacity: 16)
        for index in 0..<20_000 {
            let id = "m\(index)"
            _ = ledger.admit(id: id, copy: Self.copy(1))
            _ = ledger.finish(id: id, answer: index.isMultiple(of: 2) ? Self.answer(id) : .none)
        }
        #expect(ledger.answeredCount == 16)
        // Found by position after many compactions of the order.
        #expect(ledger.admit(id: "m19998", copy: Self.copy(2)) == .answered(Self.answer("m19998")))
        #expect(ledger.admit(id: "m19999", copy: Self.copy(2)) == .answered(.none))
        #expect(ledger.admit(id: "m19984", copy: Self.copy(2)) == .answered(Self.answer("m19984")))
        #expect(ledger.admit(id: "m19983", copy: Self.copy(2)) == .first)
    }

    @Test("an id answered again keeps its place in the window and takes the new answer")
    func answeredAgain() {
        let ledger = DeliveryLedger(capacity: 3)
        for id in ["1", "2", "3"] {
            _ = ledger.admit(id: id, copy: Self.copy(1))
            _ = ledger.finish(id: id, answer: Self.answer("first \(id)"))
        }
        #expect(ledger.finish(id: "1", answer: Self.answer("again 1")).isEmpty)
        #expect(ledger.answeredCount == 3)
        #expect(ledger.admit(id: "1", copy: Self.copy(2)) == .answered(Self.answer("again 1")))
        // Still the oldest: the next answer pushes it out, and the others keep theirs.
        _ = ledger.admit(id: "4", copy: Self.copy(1))
        _ = ledger.finish(id: "4", answer: Self.answer("first 4"))
        #expect(ledger.answeredCount == 3)
        #expect(ledger.admit(id: "1", copy: Self.copy(3)) == .first)
        #expect(ledger.admit(id: "2", copy: Self.copy(3)) == .answered(Self.answer("first 2")))
        #expect(ledger.admit(id: "4", copy: Self.copy(3)) == .answered(Self.answer("first 4")))
    }
}

@Suite("Delivery ledger restored after a restart")
struct DeliveryLedgerRestoreTests {
    @Test("restored ids are answered again from the store; the window bound applies to them too")
    func restoreSeedsTheWindow() {
        let ledger = DeliveryLedger(capacity: 2)
        ledger.restore([(id: "old", hasReply: true), (id: "mid", hasReply: false), (id: "new", hasReply: true)])
        let copy = ParkedCopy(tag: DeliveryTag(epoch: 1, value: 1, acknowledgeable: true), replyTo: "inbox",
                              redelivered: false)
        #expect(ledger.admit(id: "new", copy: copy) == .answered(.inStore))
        #expect(ledger.admit(id: "mid", copy: copy) == .answered(.none))
        #expect(ledger.admit(id: "old", copy: copy) == .first)
    }
}
