#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One file of the answer log: `answers-<generation, 16 hex digits>.log`, records appended in answer order.
struct AnswerLogSegment: Comparable {
    let generation: UInt64
    let path: String

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.generation < rhs.generation }

    init(generation: UInt64, directory: String) {
        self.generation = generation
        let hex = String(generation, radix: 16)
        self.path = directory + "/answers-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".log"
    }

    /// The segments in `directory`, oldest first (none when it does not exist).
    static func list(in directory: String) throws(InventoryError) -> [AnswerLogSegment] {
        guard let handle = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw AnswerLogIO.failure("list", directory)
        }
        defer { closedir(handle) }
        var segments: [AnswerLogSegment] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("answers-"), name.hasSuffix(".log"), name.utf8.count == 8 + 16 + 4,
                  let generation = UInt64(name.dropFirst(8).dropLast(4), radix: 16) else { continue }
            segments.append(AnswerLogSegment(generation: generation, directory: directory))
        }
        return segments.sorted()
    }

    /// Reads the segment's records in order, handing each valid one to `visit`, and stops at the first that is torn
    /// or fails its CRC (or at the end). Returns where the valid records end and how many there were.
    ///
    /// - Parameter verifyingChecksums: false for a search that checks only the record it finds
    ///   (``AnswerLogRecord/Body/hasValidChecksum``): zlib's CRC over two full segments was most of a lookup's time.
    ///   Lengths and id bounds are checked either way, so no record is read past its end.
    @discardableResult
    func scan(verifyingChecksums: Bool = true,
              _ visit: (AnswerLogRecord.Body) -> Void) throws(InventoryError) -> (validEnd: Int64, count: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return (0, 0) }  // rotated away meanwhile: nothing in it is in the window
            throw AnswerLogIO.failure("open", path)
        }
        defer { close(fd) }
        // A length is trusted only as far as the file reaches: a torn header's garbage must not size the buffer.
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw AnswerLogIO.failure("stat", path) }
        let fileSize = Int64(status.st_size)
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        var bufferFileOffset: Int64 = 0  // the file offset of buffer[0]
        var start = 0, end = 0, atEndOfFile = false, count = 0

        /// Makes `needed` bytes from `start` available, unless the file ends first.
        func fill(_ needed: Int) throws(InventoryError) -> Bool {
            while end - start < needed {
                if atEndOfFile { return false }
                if start > 0 {
                    buffer.withUnsafeMutableBytes { bytes in
                        _ = memmove(bytes.baseAddress!, bytes.baseAddress! + start, end - start)
                    }
                    bufferFileOffset += Int64(start)
                    end -= start
                    start = 0
                }
                if needed > buffer.count { buffer += [UInt8](repeating: 0, count: needed - buffer.count) }
                let got = buffer.withUnsafeMutableBytes { bytes in
                    read(fd, bytes.baseAddress! + end, bytes.count - end)
                }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw AnswerLogIO.failure("read", path)
                }
                if got == 0 { atEndOfFile = true } else { end += got }
            }
            return true
        }

        while try fill(AnswerLogRecord.headerSize) {
            let (length, crc) = buffer.withUnsafeBytes { bytes in
                (Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self))),
                 UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 4, as: UInt32.self)))
            }
            guard length >= AnswerLogRecord.fixedBodySize, length <= AnswerLogRecord.maxBodySize,
                  bufferFileOffset + Int64(start + AnswerLogRecord.headerSize + length) <= fileSize,
                  try fill(AnswerLogRecord.headerSize + length) else { break }
            let bodyStart = start + AnswerLogRecord.headerSize
            let valid = buffer.withUnsafeBytes { bytes in
                let body = AnswerLogRecord.Body(
                    bytes: UnsafeRawBufferPointer(rebasing: bytes[bodyStart..<(bodyStart + length)]),
                    fileOffset: bufferFileOffset + Int64(bodyStart), storedChecksum: crc)
                guard body.isWellFormed, !verifyingChecksums || body.hasValidChecksum else { return false }
                visit(body)
                return true
            }
            guard valid else { break }
            start = bodyStart + length
            count += 1
        }
        return (bufferFileOffset + Int64(start), count)
    }

    /// The segment opened for reading replies, or nil when it is gone (rotated away since it was scanned: what it
    /// held left the window).
    func reader() throws(InventoryError) -> Reader? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw AnswerLogIO.failure("open", path)
        }
        return Reader(path: path, descriptor: descriptor)
    }

    /// One open segment: every reply a reader needs from it read through one descriptor, closed when released.
    final class Reader {
        private let path: String
        private let descriptor: CInt

        fileprivate init(path: String, descriptor: CInt) {
            self.path = path
            self.descriptor = descriptor
        }

        deinit { close(descriptor) }

        /// `length` bytes at `offset`.
        func bytes(at offset: Int64, length: Int) throws(InventoryError) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: length)
            var done = 0
            while done < length {
                let got = bytes.withUnsafeMutableBytes {
                    pread(descriptor, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done))
                }
                if got < 0, errno == EINTR { continue }
                guard got > 0 else {
                    throw got == 0 ? .storage(operation: "read", path: path, reason: "the answer log ends early")
                        : AnswerLogIO.failure("read", path)
                }
                done += got
            }
            return bytes
        }
    }
}

/// The log's system-call errors as store errors.
enum AnswerLogIO {
    static func failure(_ operation: String, _ path: String) -> InventoryError {
        .storage(operation: "answer log: \(operation)", path: path, reason: String(cString: strerror(errno)))
    }
}
