/// The shape of a ZStack resource uuid: 32 lowercase hexadecimal digits, no dashes.
enum ResourceUuid {
    /// Why `value` is not a ZStack uuid, or nil when it is one.
    static func problem(_ value: String) -> String? {
        let utf8 = value.utf8
        guard utf8.count == 32 else {
            return "must be 32 lowercase hex digits without dashes, got \(utf8.count) characters"
        }
        let isLowerHex = utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        return isLowerHex ? nil : "must be 32 lowercase hex digits without dashes"
    }

    static func isValid(_ value: String) -> Bool { problem(value) == nil }
}
