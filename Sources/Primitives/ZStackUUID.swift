/// The one shape of uuid ZStack generates (`Platform.getUuid()`) and the only one the worker accepts for node ids,
/// message ids and resource uuids: 32 lowercase hexadecimal digits, no dashes.
///
/// Shape only: whether the version and variant nibbles are those of a real UUID is not checked (ZStack's own
/// heartbeat is stricter for node rows; the worker's generated ids satisfy both).
public enum ZStackUUID {
    /// What a valid value looks like, for error messages that name the rule.
    public static let rule = "must be 32 lowercase hex digits without dashes"

    /// Whether `value` is exactly 32 characters, each `0-9` or `a-f`.
    public static func isWellFormed(_ value: String) -> Bool {
        let utf8 = value.utf8
        return utf8.count == 32 && utf8.allSatisfy(isLowercaseHexDigit)
    }

    /// Why `value` is not a ZStack uuid (naming the length when that is what is wrong), or nil when it is one.
    public static func problem(_ value: String) -> String? {
        let count = value.utf8.count
        if count != 32 { return "\(rule), got \(count) characters" }
        return value.utf8.allSatisfy(isLowercaseHexDigit) ? nil : rule
    }

    /// `0-9` or `a-f` as an ASCII byte.
    @inlinable
    public static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)
    }
}
