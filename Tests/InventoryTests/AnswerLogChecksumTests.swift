import CChecksum
import CZlib
import Testing

/// The answer log's CRC-32 must stay zlib's: every record already on disk carries one, and a restart reads them back.
@Suite("Answer log checksum: zlib's CRC-32, folded with carry-less multiplication")
struct AnswerLogChecksumTests {
    private func zlib(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(truncatingIfNeeded: crc32(uLong(seed), $0.baseAddress, uInt($0.count))) }
    }

    private func folded(_ bytes: ArraySlice<UInt8>, seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBufferPointer { cbw_crc32(seed, $0.baseAddress, $0.count) }
    }

    @Test("every length from 0 to 1,100 bytes, at every alignment, gives zlib's value")
    func everyLengthAndAlignment() {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<1_200).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for offset in 0..<16 {
            for length in 0...1_100 {
                let slice = data[offset..<(offset + length)]
                #expect(folded(slice) == zlib(Array(slice)), "offset \(offset), length \(length)")
            }
        }
    }

    @Test("a running CRC continues as zlib's does, and the known check value holds")
    func continuationAndCheckValue() {
        let check = Array("123456789".utf8)
        #expect(folded(check[...]) == 0xCBF4_3926)  // CRC-32/ISO-HDLC's published check value
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0...3_000, using: &generator)).map { _ in UInt8.random(in: 0...255) }
            let split = Int.random(in: 0...bytes.count, using: &generator)
            let first = folded(bytes[..<split])
            #expect(folded(bytes[split...], seed: first) == zlib(bytes))
            #expect(folded(bytes[...]) == zlib(bytes))
        }
        // All-zero and all-one runs, where a wrong fold constant shows least in random data's noise.
        for length in [64, 65, 127, 128, 4_096, 65_537] {
            #expect(folded(ArraySlice(repeating: 0, count: length)) == zlib([UInt8](repeating: 0, count: length)))
            #expect(folded(ArraySlice(repeating: 0xFF, count: length)) == zlib([UInt8](repeating: 0xFF, count: length)))
        }
    }

    @Test("this machine folds with PCLMULQDQ (x86-64 with the instruction), so the fast path is what ran above")
    func acceleratedHere() {
        #if arch(x86_64)
        #expect(cbw_crc32_is_accelerated() != 0)
        #endif
    }
}
