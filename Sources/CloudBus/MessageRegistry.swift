import Foundation
import Primitives

/// Which Swift type decodes which Java class name. Immutable once built, so one registry can be shared by every
/// consumer thread.
///
/// Each class has a **position**: its index in the order the types were given. A decoded envelope carries it
/// (``DecodedEnvelope/classPosition``), so per-class tables of the registry's user (handlers, metric series) are
/// arrays indexed by it rather than dictionaries hashing a 40-byte class name per lookup. The codec finds a class
/// from the body's bytes (``position(spelledBy:)``) without making a `String` of them.
public struct MessageRegistry: Sendable {
    private let types: [any BusMessage.Type]
    private let names: [String]
    /// Open addressing over the names' bytes (``byteHash(_:)``, linear probing, at most half full): position + 1
    /// per slot, 0 for an empty slot.
    private let slots: [Int32]

    /// - Precondition: no two types share a `className` (that would make decoding ambiguous; it is a programming
    ///   error, not a runtime condition).
    public init(_ types: [any BusMessage.Type]) {
        self.types = types
        self.names = types.map { $0.className }
        var capacity = 8
        while capacity < 2 * types.count { capacity *= 2 }
        var slots = [Int32](repeating: 0, count: capacity)
        for (position, name) in names.enumerated() {
            var name = name
            let hash = name.withUTF8 { Self.byteHash(UnsafeRawBufferPointer($0)) }
            var slot = Int(truncatingIfNeeded: hash) & (capacity - 1)
            while slots[slot] != 0 {
                precondition(names[Int(slots[slot]) - 1] != name, "two message types registered for \(name)")
                slot = (slot + 1) & (capacity - 1)
            }
            slots[slot] = Int32(position + 1)
        }
        self.slots = slots
    }

    /// The type registered for `className`, or nil when this worker does not handle that class.
    public func type(named className: String) -> (any BusMessage.Type)? {
        position(of: className).map { types[$0] }
    }

    /// The position of `className`, or nil when it is not registered (through the same table as the bytes).
    public func position(of className: String) -> Int? {
        var name = className
        return name.withUTF8 { position(spelledBy: UnsafeRawBufferPointer($0)) }
    }

    /// The position of the class whose name is spelled by `bytes` (UTF-8, as in a body), or nil. One pass of a word
    /// hash over the bytes and a compare: no string made, no lock (the table never changes).
    public func position(spelledBy bytes: UnsafeRawBufferPointer) -> Int? {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: Self.byteHash(bytes)) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            if StringInterner.spells(names[entry - 1], bytes) { return entry - 1 }
            slot = (slot + 1) & mask
        }
    }

    /// How many classes are registered: positions run from 0 to `count - 1`.
    public var count: Int { types.count }

    /// The type at `position` (in `0..<count`).
    public func type(at position: Int) -> any BusMessage.Type { types[position] }

    /// The class name at `position` (in `0..<count`): the registered type's own string, so a decoded envelope's
    /// `className` is never a new allocation.
    public func className(at position: Int) -> String { names[position] }

    /// This registry plus `additional` types (same precondition as `init`); the existing positions stay.
    public func adding(_ additional: [any BusMessage.Type]) -> MessageRegistry {
        MessageRegistry(types + additional)
    }

    /// Every registered class name, sorted (for logs and diagnostics).
    public var classNames: [String] { names.sorted() }

    /// The message types of the wire itself: the generic reply and the canonical event. Domain modules add theirs
    /// (`KVMMessageTypes.all`, `ZbsMessageTypes.all`); the worker's full catalogue is `MessageCatalogue.all`.
    public static let wireTypes: [any BusMessage.Type] = [MessageReply.self, CanonicalEvent.self]

    /// Where `EnvelopeCodec` hands the registry to the decoding wrapper.
    static let userInfoKey = CodingUserInfoKey(rawValue: "cloudbus.message-registry")!

    /// A word-at-a-time mix of `bytes` (and their count): class names share long prefixes (`org.zstack.header.`),
    /// so every word goes through a multiply before the next is folded in.
    static func byteHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let multiplier: UInt64 = 0xFF51_AFD7_ED55_8CCD
        var hash = UInt64(bytes.count) &* 0x9E37_79B9_7F4A_7C15
        var offset = 0
        while offset + 8 <= bytes.count {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* multiplier
            hash ^= hash >> 32
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count {
            tail |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        hash = (hash ^ tail) &* multiplier
        return hash ^ (hash >> 29)
    }
}
