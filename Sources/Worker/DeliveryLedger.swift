import AMQP
import Foundation
import Inventory
import Primitives
import Synchronization

/// What the worker answered for a message it finished: the encoded reply it published, when there was one.
/// A duplicate of the message gets these very bytes again.
///
/// One word (an enum over the byte array's reference): the dedupe window holds 65,536 of these in its order.
struct Answer: Sendable, Equatable {
    private enum Storage: Equatable {
        case noReply
        /// A reply exists but its bytes are kept in the store only (evicted, or not loaded at start): read back from
        /// the store when a duplicate asks for it.
        case replyInStore
        case reply([UInt8])
    }

    private let storage: Storage

    init(reply: [UInt8]?) {
        storage = reply.map(Storage.reply) ?? .noReply
    }

    private init(_ storage: Storage) { self.storage = storage }

    /// The reply envelope as published, when it is kept in memory.
    var reply: [UInt8]? {
        if case .reply(let bytes) = storage { return bytes }
        return nil
    }

    /// Whether there was a reply at all (in memory or in the store).
    var hasReply: Bool {
        if case .noReply = storage { return false }
        return true
    }

    /// A reply that exists but is kept in the store only.
    static let inStore = Answer(.replyInStore)
    static let none = Answer(.noReply)
}

/// How a reply goes out: as durable as the request (a persistent request gets a persistent reply) and compressed
/// when the request was (ZStack's `compressed` header).
struct ReplyMode: Sendable, Equatable {
    var persistent = false
    var compressed = false

    static let plain = ReplyMode()

    init(persistent: Bool = false, compressed: Bool = false) {
        self.persistent = persistent
        self.compressed = compressed
    }

    init(_ delivery: Delivery) {
        self.init(persistent: delivery.properties.deliveryMode == 2,
                  compressed: delivery.properties.headers[ReplyMode.compressedHeader] != nil)
    }

    /// The AMQP header ZStack sets on a deflated body; its presence is what counts.
    static let compressedHeader = "compressed"
}

/// A copy of a message that arrived while the original was still being handled; it is settled with the original.
struct ParkedCopy: Sendable {
    let tag: DeliveryTag
    /// The copy's own `headers.replyTo`, when it wants a reply.
    let replyTo: String?
    /// A broker redelivery (same sender, same inbox: the original's reply reached it already) rather than a
    /// sender's retry.
    let redelivered: Bool
    /// How this copy's reply goes out.
    var mode = ReplyMode.plain
}

/// Which message ids are being handled and which were answered recently — with the reply they got — so a copy
/// (a broker redelivery after a lost ack, or a sender's retry after a lost reply) is answered again instead of
/// being executed twice or ignored.
///
/// One lock covers both tables, so `admit` and `finish` cannot interleave: an id is either in flight or answered,
/// never both, never neither while its handler runs. Bounded by count, oldest answer forgotten first; a copy older
/// than the window is handled afresh (the handlers' state-based idempotency covers it). Reply bytes are kept in
/// memory only up to `maxCachedBytes` (the most recent ones, which the quick retries ask for); older replies are read
/// back from the store (`Answer.inStore`). The window survives a restart through the store (`AnswerJournal` writes
/// it, `restore` reads the ids back).
final class DeliveryLedger: Sendable {
    enum Admission: Equatable {
        /// First sighting: handle it.
        case first
        /// Answered already: send `answer` again (when the copy wants a reply) and ack.
        case answered(Answer)
        /// The original is still running; this copy is settled with it.
        case parked
    }

    /// An id being handled or answered. One table for both, so that an admit, a finish and an eviction each find
    /// the id once: an echo hashed its id eight times with two tables. One word (the window holds 65,536 of them):
    /// an answered id's answer sits in its slot of the window's order, where the eviction of its reply bytes finds it
    /// by position, without hashing the id again; the copies parked behind an id in flight sit apart, in `parked`.
    struct Entry: Equatable {
        /// The answered id's slot in the order (counted from the window's first answer ever), or -1: in flight.
        fileprivate let position: Int

        static let inFlight = Entry(position: -1)

        fileprivate static func answered(at position: Int) -> Entry { Entry(position: position) }

        var isInFlight: Bool { position < 0 }
    }

    /// An answered id, oldest first in the window, with its answer.
    private struct Slot {
        let key: MessageKey
        var answer: Answer
    }

    private struct State {
        var entries: [MessageKey: Entry] = [:]
        /// Copies of ids in flight that arrived while the original ran (rare: a redelivery or a quick retry).
        var parked: [MessageKey: [ParkedCopy]] = [:]
        /// Entries that are answered: the window's fill.
        var answeredCount = 0
        /// Answered ids with their answers, oldest first, from `head` on (the prefix before `head` is spent;
        /// compacted as it grows). `order[i]` is the slot at position `dropped + i`.
        var order: [Slot] = []
        var head = 0
        /// Slots removed from the front of `order` by compaction.
        var dropped = 0
        /// Replies before `bodyHead` (and at or after `head`) have had their bytes dropped from memory.
        var bodyHead = 0
        var cachedBytes = 0

        /// The answer of an answered entry.
        func answer(of entry: Entry) -> Answer { order[entry.position - dropped].answer }

        /// Records `answer` for `key`; returns what the entry held before. An id answered again keeps its slot.
        mutating func answer(_ key: MessageKey, with answer: Answer) -> Entry? {
            let previous = entries.updateValue(.answered(at: dropped + order.count), forKey: key)
            if let previous, !previous.isInFlight {
                entries.updateValue(previous, forKey: key)
                let index = previous.position - dropped
                cachedBytes -= order[index].answer.reply?.capacity ?? 0
                order[index].answer = answer
            } else {
                answeredCount += 1
                order.append(Slot(key: key, answer: answer))
            }
            cachedBytes += answer.reply?.capacity ?? 0
            return previous
        }

        /// The copies parked behind `key`, taken out (no lookup while none is parked anywhere).
        mutating func takeParked(_ key: MessageKey) -> [ParkedCopy] {
            parked.isEmpty ? [] : parked.removeValue(forKey: key) ?? []
        }
    }

    /// How many answered ids are remembered.
    let capacity: Int
    /// How many bytes of cached replies are kept at most: the buffers' capacity, which is what they occupy (an
    /// encoder's buffer is allocated larger than the reply it holds).
    let maxCachedBytes: Int
    private let state: Mutex<State>

    /// The default of ``maxCachedBytes`` (`replyCacheBytes`): 2 MiB.
    static let defaultMaxCachedBytes = 2 << 20

    /// - Parameters:
    ///   - capacity: answered ids remembered (at least 1); size it to the redelivery horizon (prefetch ×
    ///     consumers, plus what arrives while a message is retried).
    ///   - maxCachedBytes: bound on the reply bytes kept in memory; past it the oldest replies are kept in the store
    ///     only (a duplicate of those costs one store read).
    init(capacity: Int, maxCachedBytes: Int = DeliveryLedger.defaultMaxCachedBytes) {
        self.capacity = max(1, capacity)
        self.maxCachedBytes = max(0, maxCachedBytes)
        // Sized for the full window (plus the deliveries in flight beside it) from the start: grown as it filled,
        // the table was rehashed whole at each doubling, on the consuming thread, in the middle of an admit — the
        // last one moving ~49k entries at once for the default window. Only the table's bitmap is touched now; its
        // slots are written as ids come, so resident memory still follows the window's fill. A window larger than
        // `maxReservedEntries` (an operator's choice, up to `Int.max`) reserves that much and grows past it as before.
        var state = State()
        state.entries.reserveCapacity(min(self.capacity, Self.maxReservedEntries) + Self.inFlightHeadroom)
        self.state = Mutex(state)
    }

    /// Entries beyond the window the table holds without growing: ids in flight (a prefetch's worth; a larger
    /// prefetch grows the table once) are in the same table as the answered ones.
    static let inFlightHeadroom = 4096

    /// The most entries reserved up front: 256 Ki ids, a table of ~16 MiB of address space (4 MiB for the default
    /// window), not taken from memory until written.
    static let maxReservedEntries = 1 << 18

    /// Seeds the window with the ids answered before a restart, oldest first (the store's order); their replies
    /// stay in the store. Called before any delivery is admitted.
    func restore(_ answered: [(id: String, hasReply: Bool)]) {
        state.withLock { state in
            for (id, hasReply) in answered {
                _ = state.answer(MessageKey(id), with: hasReply ? .inStore : .none)
            }
            evict(&state)
        }
    }

    /// Records a delivery of `id`: first sighting, a copy of an answered message, or a copy of one in flight
    /// (then `copy` is kept and returned by `finish`/`abandon`).
    func admit(id: String, copy: ParkedCopy) -> Admission {
        let key = MessageKey(id)
        return state.withLock { state in
            // Inserted first and put back when it was there: a first sighting (nearly every delivery) hashes its
            // key once, where a lookup followed by an insert hashed it twice.
            guard let previous = state.entries.updateValue(.inFlight, forKey: key) else { return .first }
            if previous.isInFlight {
                state.parked[key, default: []].append(copy)
                return .parked
            }
            state.entries.updateValue(previous, forKey: key)
            return .answered(state.answer(of: previous))
        }
    }

    /// Marks `id` answered with `answer` and returns its parked copies, to be settled the same way.
    func finish(id: String, answer: Answer) -> [ParkedCopy] {
        let key = MessageKey(id)
        return state.withLock { state in
            let previous = state.answer(key, with: answer)
            evict(&state)
            if previous?.isInFlight == true { return state.takeParked(key) }
            return []
        }
    }

    /// The original could not complete (its outputs were not confirmed, or the worker is shutting down): forget
    /// `id` so the broker's redelivery is handled afresh, and return the parked copies to give back too.
    func abandon(id: String) -> [ParkedCopy] {
        let key = MessageKey(id)
        return state.withLock { state in
            guard let index = state.entries.index(forKey: key), state.entries.values[index].isInFlight else {
                return []
            }
            state.entries.remove(at: index)
            return state.takeParked(key)
        }
    }

    /// Answered ids remembered now (for tests and status).
    var answeredCount: Int { state.withLock { $0.answeredCount } }

    private func evict(_ state: inout State) {
        // Every slot from `head` on is an answered id whose entry points at it (an answer is never taken back, an id
        // answered again keeps its slot, and only this loop removes one), so each step shrinks the window; an entry
        // in flight is never touched here even so.
        while state.answeredCount > capacity, state.head < state.order.count {
            // The slot lets go of its reply bytes now, not when the spent prefix is compacted away.
            let oldest = state.order[state.head]
            state.order[state.head].answer = .none
            state.cachedBytes -= oldest.answer.reply?.capacity ?? 0
            state.head += 1
            if let index = state.entries.index(forKey: oldest.key), !state.entries.values[index].isInFlight {
                state.entries.remove(at: index)
                state.answeredCount -= 1
            }
        }
        // Reply bytes past the bound are dropped by position: the id stays answered, its reply is read from the
        // store when a copy asks.
        state.bodyHead = max(state.bodyHead, state.head)
        while state.cachedBytes > maxCachedBytes, state.bodyHead < state.order.count {
            if let reply = state.order[state.bodyHead].answer.reply {
                state.order[state.bodyHead].answer = .inStore
                state.cachedBytes -= reply.capacity
            }
            state.bodyHead += 1
        }
        // Compacted once the spent prefix is an eighth of the array: it holds at most ~1.14× the window's slots
        // (32 bytes each), and each compaction moves the window once per ~window/7 answers.
        if state.head > 1024, state.head * 8 > state.order.count {
            state.order.removeFirst(state.head)
            state.dropped += state.head
            state.bodyHead -= state.head
            state.head = 0
        }
    }
}

/// A message id as the ledger keys it: ZStack's 32 lowercase hex digits as two integers — 17 bytes inline instead of
/// a 32-character string on the heap per entry, hashed and compared as words (the window holds 65,536 of them).
/// Ids reach the ledger only once checked well-formed; anything else (an old store row, say) is keyed by a hash of
/// its text, flagged so that it can never equal a well-formed id's key.
struct MessageKey: Hashable, Sendable {
    let high: UInt64
    let low: UInt64
    /// A hash of a malformed id rather than an id's own bits.
    let isHash: Bool

    /// The two words only (`==` still tells a hashed key from an id's bits): one `Hasher.combine` fewer per lookup
    /// than the synthesised hash, on five lookups per message.
    func hash(into hasher: inout Hasher) {
        hasher.combine(high)
        hasher.combine(low)
    }

    init(_ id: String) {
        if let key = Self(hex: id) {
            self = key
        } else {
            var hasher = Hasher()
            hasher.combine(id)
            high = UInt64(bitPattern: Int64(hasher.finalize()))
            low = 0
            isHash = true
        }
    }

    /// The 128 bits of a well-formed id, or nil.
    init?(hex id: String) {
        guard let bits = ZStackUUID.bits(id) else { return nil }
        self.high = bits.high
        self.low = bits.low
        self.isHash = false
    }
}
