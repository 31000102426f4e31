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
    /// Every message id and resource uuid passes here: its bytes are read in place (iterating `utf8` generically
    /// cost ~35 instructions a digit, counted with callgrind; this, about five).
    public static func bits(_ value: String) -> (high: UInt64, low: UInt64)? {
        if let parsed = value.utf8.withContiguousStorageIfAvailable(bits(utf8:)) { return parsed }
        var value = value  // a bridged or lazily stored string: made contiguous
        return value.withUTF8(bits(utf8:))
    }

    private static func bits(utf8: UnsafeBufferPointer<UInt8>) -> (high: UInt64, low: UInt64)? {
        guard utf8.count == 32 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0, invalid: UInt8 = 0
        for index in 0..<16 {
            let digit = hexDigitValue(utf8[index])
            invalid |= digit
            high = high << 4 | UInt64(digit & 0x0F)
        }
        for index in 16..<32 {
            let digit = hexDigitValue(utf8[index])
            invalid |= digit
            low = low << 4 | UInt64(digit & 0x0F)
        }
        return invalid & 0xF0 == 0 ? (high, low) : nil
    }

    /// `0-9` → 0…9, `a-f` → 10…15, anything else 0xFF.
    @inline(__always)
    private static func hexDigitValue(_ byte: UInt8) -> UInt8 {
        let decimal = byte &- 0x30, letter = byte &- 0x61
        return decimal < 10 ? decimal : letter < 6 ? letter &+ 10 : 0xFF
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
