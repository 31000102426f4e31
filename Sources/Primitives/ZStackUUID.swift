/// The one shape of uuid ZStack generates (`Platform.getUuid()`) and the only one the worker accepts for node ids,
/// message ids and resource uuids: 32 lowercase hexadecimal digits, no dashes.
///
/// Shape only: whether the version and variant nibbles are those of a real UUID is not checked (ZStack's own
/// heartbeat is stricter for node rows; the worker's generated ids satisfy both).
public enum ZStackUUID {
    /// What a valid value looks like, for error messages that name the rule.
    public static let rule = "must be 32 lowercase hex digits without dashes"

    /// Whether `value` is exactly 32 characters, each `0-9` or `a-f`.
    public static func isWellFormed(_ value: String) -> Bool { bits(value) != nil }

    /// The 128 bits a well-formed `value` spells, the first digit the most significant; nil for anything else.
    /// Every message id and resource uuid passes here (three times per message): its bytes are read in place, eight
    /// digits at a time (iterating `utf8` generically cost ~35 instructions a digit, counted with callgrind; a byte
    /// at a time ~19; this ~4).
    public static func bits(_ value: String) -> (high: UInt64, low: UInt64)? {
        if let parsed = value.utf8.withContiguousStorageIfAvailable(bits(utf8:)) { return parsed }
        var value = value  // a bridged or lazily stored string: made contiguous
        return value.withUTF8(bits(utf8:))
    }

    private static func bits(utf8: UnsafeBufferPointer<UInt8>) -> (high: UInt64, low: UInt64)? {
        guard utf8.count == 32, let base = utf8.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        func word(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        guard let w0 = eightDigits(word(0)), let w1 = eightDigits(word(8)), let w2 = eightDigits(word(16)),
            let w3 = eightDigits(word(24))
        else { return nil }
        return (w0 << 32 | w1, w2 << 32 | w3)
    }

    /// The value of eight ASCII digits `0-9`/`a-f` loaded as one little-endian word (the first digit in the low
    /// byte, and the most significant in the result), or nil when any byte is not one. Range tests per byte without
    /// carries between bytes: every byte is below 0x80 once the first test passed, so adding a constant below 0x80
    /// sets a byte's top bit exactly when the byte reaches a bound.
    @inline(__always)
    private static func eightDigits(_ word: UInt64) -> UInt64? {
        let top: UInt64 = 0x8080_8080_8080_8080
        guard word & top == 0 else { return nil }
        let atLeastZero = (word &+ 0x5050_5050_5050_5050) & top  // >= 0x30 '0'
        let pastNine = (word &+ 0x4646_4646_4646_4646) & top  // >= 0x3A
        let atLeastA = (word &+ 0x1F1F_1F1F_1F1F_1F1F) & top  // >= 0x61 'a'
        let pastF = (word &+ 0x1919_1919_1919_1919) & top  // >= 0x67
        let letter = atLeastA & ~pastF
        guard (atLeastZero & ~pastNine) | letter == top else { return nil }
        // Each byte's value (`'a'` & 0x0F is 1: letters add 9), then the eight nibbles packed, first digit on top.
        var value = ((word & 0x0F0F_0F0F_0F0F_0F0F) &+ (letter >> 7) &* 9).byteSwapped
        value = (value | value >> 4) & 0x00FF_00FF_00FF_00FF
        value = (value | value >> 8) & 0x0000_FFFF_0000_FFFF
        return (value | value >> 16) & 0x0000_0000_FFFF_FFFF
    }

    /// Why `value` is not a ZStack uuid (naming the length when that is what is wrong), or nil when it is one.
    public static func problem(_ value: String) -> String? {
        let count = value.utf8.count
        if count != 32 { return "\(rule), got \(count) characters" }
        return bits(value) != nil ? nil : rule
    }

    /// `0-9` or `a-f` as an ASCII byte.
    @inlinable
    public static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)
    }
}
