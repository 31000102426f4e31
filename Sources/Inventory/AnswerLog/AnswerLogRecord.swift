import CChecksum

/// One answer as the log stores it, little-endian:
///
///     u32 body length · u32 CRC-32 of the body · body
///     body: i64 answeredAt (epoch ms) · u8 flags (bit 0: has a reply) · u16 id length · id · reply
///
/// The CRC is what recovery trusts: a record whose length runs past the end of the file or whose CRC does not match
/// is where a crash tore the last write, and the log ends there.
enum AnswerLogRecord {
    static let headerSize = 8
    /// answeredAt, flags, id length.
    static let fixedBodySize = 11
    /// A body longer than this is not a record (a reply is at most the broker's frame limit, far below it).
    static let maxBodySize = 1 << 30

    /// Appends `answer` as one record to `buffer`.
    static func append(_ answer: AnsweredMessage, to buffer: inout [UInt8]) throws(InventoryError) {
        let idLength = answer.id.utf8.count
        guard idLength <= Int(UInt16.max) else {
            throw .storage(operation: "recordAnsweredMessages", path: nil,
                           reason: "a message id of \(idLength) bytes is longer than the answer log takes")
        }
        let replyLength = answer.reply?.count ?? 0
        let bodyLength = fixedBodySize + idLength + replyLength
        guard bodyLength <= maxBodySize else {
            throw .storage(operation: "recordAnsweredMessages", path: nil,
                           reason: "a reply of \(replyLength) bytes is longer than the answer log takes")
        }
        let start = buffer.count
        appendInteger(UInt32(bodyLength), to: &buffer)
        appendInteger(UInt32(0), to: &buffer)  // the CRC, patched below
        appendInteger(UInt64(bitPattern: answer.answeredAtEpochMillis), to: &buffer)
        buffer.append(answer.reply == nil ? 0 : 1)
        appendInteger(UInt16(idLength), to: &buffer)
        buffer.append(contentsOf: answer.id.utf8)
        if let reply = answer.reply { buffer.append(contentsOf: reply) }
        let crc = buffer.withUnsafeBytes { bytes in
            checksum(UnsafeRawBufferPointer(rebasing: bytes[(start + headerSize)...]))
        }
        withUnsafeBytes(of: crc.littleEndian) { crcBytes in
            for (index, byte) in crcBytes.enumerated() { buffer[start + 4 + index] = byte }
        }
    }

    /// zlib's CRC-32 of `bytes` (what every record written so far carries), folded with PCLMULQDQ where the CPU has
    /// it: a table walk cost ~2,300 instructions per record of a 500-byte reply.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return cbw_crc32(0, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    private static func appendInteger<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    /// A record's body as the scanner hands it out: valid only inside the visit.
    struct Body {
        let bytes: UnsafeRawBufferPointer
        /// Where the record's body starts in its file.
        let fileOffset: Int64
        /// The CRC its header carries.
        let storedChecksum: UInt32

        var hasValidChecksum: Bool { AnswerLogRecord.checksum(bytes) == storedChecksum }

        var answeredAtEpochMillis: Int64 { Int64(bitPattern: UInt64(littleEndian: load(UInt64.self, at: 0))) }
        var hasReply: Bool { bytes[8] & 1 != 0 }
        var idBytes: UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: bytes[AnswerLogRecord.fixedBodySize..<replyStart])
        }
        var id: String { String(decoding: idBytes, as: UTF8.self) }
        var replyStart: Int { AnswerLogRecord.fixedBodySize + Int(UInt16(littleEndian: load(UInt16.self, at: 9))) }
        var replyLength: Int { bytes.count - replyStart }
        /// Whether the id's length fits the body; a body where it does not is treated as the log's end (only a
        /// torn or foreign write makes one: the writer never does).
        var isWellFormed: Bool { bytes.count >= AnswerLogRecord.fixedBodySize && replyStart <= bytes.count }

        private func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        }
    }
}
