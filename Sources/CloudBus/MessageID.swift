import Synchronization

/// ZStack message ids: a random (version 4) UUID written as 32 lowercase hex digits without dashes,
/// the form `Platform.getUuid()` produces and the form every `id` and `correlationId` on the bus takes.
public enum MessageID {
    /// A fresh id, as unlikely to repeat as a random one (122 bits after the version bits). Every reply needs one, so
    /// it costs no system call: a SplitMix64 stream whose state is an atomic counter (lock-free across threads),
    /// seeded once from the system CSPRNG. Ids are identifiers, not secrets; what a sender could learn by predicting
    /// them it can already do on the bus.
    public static func random() -> String {
        var generator = SharedStream()
        return random(using: &generator)
    }

    /// Each `next()` takes one step of the process-wide stream: distinct steps give distinct 64-bit outputs
    /// (SplitMix64's mix is a bijection), so this process draws no value twice before 2^64 steps.
    private struct SharedStream: RandomNumberGenerator {
        func next() -> UInt64 {
            var z = MessageID.streamState.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private static let streamState: Atomic<UInt64> = {
        var system = SystemRandomNumberGenerator()
        return Atomic(system.next())
    }()

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
