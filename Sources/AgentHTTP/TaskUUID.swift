/// Task ids for async agent calls: 32 lower-case hex digits, the shape ZStack uses (a dash-less random uuid).
enum TaskUUID {
    /// A fresh random id (128 bits from the system's cryptographic generator).
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex(generator.next()) + hex(generator.next())
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
