import Foundation
import Synchronization

/// Strings that recur message after message — service ids, reply inboxes — handed out from a small
/// cache instead of made anew: each would otherwise be a heap string (longer than 15 bytes) per message, for the
/// same few values.
///
/// A direct-mapped table: a string's bytes pick one slot by hash; a slot holds the last string that landed there.
/// So the cache is bounded (``slotCount`` strings of at most ``maxLength`` bytes) whatever a sender puts in its
/// messages — distinct values only evict each other — and a lookup is one hash, one lock and one compare. Only for
/// values that do recur: a unique id would evict a recurring one and gain nothing. Safe from any thread.
public final class StringInterner: Sendable {
    /// The worker's one table (service ids and reply inboxes of every message it reads; class names come from the
    /// message registry's own strings).
    public static let shared = StringInterner()

    /// Strings longer than this are made anew every time (no bus name is; a hostile one is not kept).
    public static let maxLength = 256
    public static let slotCount = 256

    private let slots: Mutex<[String?]>

    public init() {
        slots = Mutex([String?](repeating: nil, count: Self.slotCount))
    }

    /// `bytes` (valid UTF-8) as a string: the one in the table when it spells them, else a new one that takes the
    /// slot. Strings of 15 bytes or fewer are made directly: Swift keeps those inline, without a heap allocation.
    public func string(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.count > 15, bytes.count <= Self.maxLength else { return String(decoding: bytes, as: UTF8.self) }
        let slot = Int(truncatingIfNeeded: Self.hash(bytes) & UInt64(Self.slotCount - 1))
        let cached = slots.withLock { slots -> String? in
            guard let entry = slots[slot], Self.spells(entry, bytes) else { return nil }
            return entry
        }
        if let cached { return cached }
        let made = String(decoding: bytes, as: UTF8.self)
        slots.withLock { $0[slot] = made }
        return made
    }

    /// FNV-1a.
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// Whether `string`'s UTF-8 is exactly `bytes` (a native string's bytes compared in place).
    public static func spells(_ string: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        string.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.count == bytes.count && memcmp(utf8.baseAddress!, bytes.baseAddress!, bytes.count) == 0
        } ?? false
    }
}
