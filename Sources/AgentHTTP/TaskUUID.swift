#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Task ids for async agent calls: 32 lower-case hex digits, the shape ZStack uses (a dash-less random uuid).
enum TaskUUID {
    /// A fresh random id: 128 bits from the system's cryptographic generator, read in one system call (every
    /// async agent call makes one), written as hex without intermediate strings.
    static func make() -> String {
        var bits: (UInt64, UInt64) = (0, 0)
        // glibc's (2.36+) and Darwin's arc4random read the kernel's generator (getrandom) for all 16 bytes at once;
        // `SystemRandomNumberGenerator` would make one system call per word.
        withUnsafeMutableBytes(of: &bits) { arc4random_buf($0.baseAddress!, $0.count) }
        return String(unsafeUninitializedCapacity: 32) { buffer in
            write(bits.0, into: buffer, at: 0)
            write(bits.1, into: buffer, at: 16)
            return 32
        }
    }

    private static func write(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        let digits: StaticString = "0123456789abcdef"
        for index in 0..<16 {
            let nibble = Int((value >> UInt64(60 - 4 * index)) & 0xF)
            buffer[start + index] = digits.utf8Start[nibble]
        }
    }
}
