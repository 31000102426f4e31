/// ZStack message ids: a random (version 4) UUID written as 32 lowercase hex digits without dashes,
/// the form `Platform.getUuid()` produces and the form every `id` and `correlationId` on the bus takes.
public enum MessageID {
    /// A fresh random id. Uses the system CSPRNG, so ids from concurrent callers do not collide in practice.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// A random id drawn from `generator` (inject a seeded generator for reproducible tests).
    public static func random(using generator: inout some RandomNumberGenerator) -> String {
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        // Version 4, IETF variant, as java.util.UUID.randomUUID() sets them.
        high = (high & ~0x0000_0000_0000_F000) | 0x0000_0000_0000_4000
        low = (low & ~0xC000_0000_0000_0000) | 0x8000_0000_0000_0000
        let digits = hexDigits
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for index in 0..<16 {
                buffer[index] = digits[Int((high >> UInt64(60 - 4 * index)) & 0xF)]
                buffer[16 + index] = digits[Int((low >> UInt64(60 - 4 * index)) & 0xF)]
            }
            return 32
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
