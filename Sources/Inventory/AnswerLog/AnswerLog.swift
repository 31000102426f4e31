#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Primitives
import Synchronization

/// The persisted dedupe window of a file database: an append-only log of answers in a directory beside it, two
/// segment files at most.
///
/// Why not a table: the worker writes one answer per message, and in SQLite that was a B-tree insert, a trimmed row,
/// a dozen 4 KiB WAL frames per commit and a checkpoint writing them all again — ~20 % of the worker's CPU per echo
/// (issue 15). Here a batch is one `pwrite` of its records and one `fdatasync`: nothing else is written, and nothing
/// twice but the zeros a segment grows by.
///
/// - **Durable when ``append(_:keepingLast:)`` returns**: the records are on disk.
/// - **Appends overwrite zeros**: a segment grows by extents of 4 MiB of zeros written ahead, so most batches change
///   no file size and their `fdatasync` writes data pages only — an append that grows a file also writes its inode
///   (ext4 without a journal: a second synchronous write) or commits the filesystem's journal. PostgreSQL pre-zeroes
///   its WAL segments for the same reason. After the last record there are only zeros; a zero length ends the log.
/// - **A crash tears at most the last write**: every record carries its length and a CRC-32; reading stops at the
///   first record that runs past the end or fails its CRC, and the writer zeroes everything after the last whole
///   record before it appends, so what a torn batch left is never read after the records that follow.
/// - **The window, not the history**: once the segment being written holds `keepingLast` records, a new one is
///   started (its directory entry synced) and the one before it removed, so the last `keepingLast` answers are always
///   in the two newest segments.
/// - **One writer**: the first append takes `flock` on the directory's `lock` file; another process (or a second
///   log object on the same directory) gets a clear error instead of interleaved records. Readers take no lock and
///   read what is on disk.
///
/// Readers scan the segments. A lookup by id has no index (it would cost ~2 MB of RSS for the window's ids and
/// offsets) and reads both segments, checking the CRC of the records it matches only — only a duplicate whose reply
/// left the worker's memory asks, which after a restart is every duplicate. Every call blocks its thread: callers on
/// Swift's pool hop to a dispatch queue first.
public final class AnswerLog: Sendable {
    /// The log's directory (created on the first append).
    public let directory: String
    private let writer = Mutex<Writer?>(nil)

    public init(directory: String) {
        self.directory = directory
    }

    deinit {
        writer.withLock { $0?.close() }
    }

    /// Appends `answers` in order, durably, and keeps the log to the window of the last `keepingLast` answers.
    public func append(_ answers: [AnsweredMessage], keepingLast limit: Int) throws(InventoryError) {
        guard !answers.isEmpty else { return }
        try writer.withLock { (writer: inout Writer?) throws(InventoryError) in
            if writer == nil { writer = try Writer(directory: directory) }
            try writer!.append(answers, keepingLast: max(1, limit))
        }
    }

    /// The newest answer recorded for `id`, or nil.
    public func answeredMessage(id: String) throws -> AnsweredMessage? {
        var id = id
        let wanted = id.withUTF8 { Array($0) }
        for segment in try AnswerLogSegment.list(in: directory).suffix(2).reversed() {
            var found: (at: Int64, hasReply: Bool, offset: Int64, length: Int)?
            try segment.scan(verifyingChecksums: false) { body in
                guard body.idBytes.elementsEqual(wanted), body.hasValidChecksum else { return }
                found = (body.answeredAtEpochMillis, body.hasReply, body.fileOffset + Int64(body.replyStart),
                         body.replyLength)
            }
            guard let found else { continue }
            guard found.hasReply else { return AnsweredMessage(id: id, reply: nil, answeredAtEpochMillis: found.at) }
            guard let reply = try segment.reader()?.bytes(at: found.offset, length: found.length) else { return nil }
            return AnsweredMessage(id: id, reply: reply, answeredAtEpochMillis: found.at)
        }
        return nil
    }

    /// The ids of the last `limit` answers, oldest first, each id once (its newest answer), with whether it had a
    /// reply.
    public func answeredMessageIds(limit: Int) throws -> [(id: String, hasReply: Bool)] {
        try newest(limit: limit).map { ($0.id, $0.hasReply) }
    }

    /// The last `limit` answers with their replies, oldest first, each id once (its newest answer).
    public func answeredMessages(limit: Int) throws -> [AnsweredMessage] {
        var readers: [UInt64: AnswerLogSegment.Reader?] = [:]  // one open per segment, not one per reply
        return try newest(limit: limit).compactMap { entry in
            guard entry.hasReply else {
                return AnsweredMessage(id: entry.id, reply: nil, answeredAtEpochMillis: entry.answeredAt)
            }
            // A segment rotated away since the scan held answers that left the window: they are left out, never
            // returned without the reply they had.
            if readers[entry.segment.generation] == nil { readers[entry.segment.generation] = try entry.segment.reader() }
            guard let reader = readers[entry.segment.generation] ?? nil else { return nil }
            let reply = try reader.bytes(at: entry.replyOffset, length: entry.replyLength)
            return AnsweredMessage(id: entry.id, reply: reply, answeredAtEpochMillis: entry.answeredAt)
        }
    }

    /// Where one answer is, without its reply.
    private struct Entry {
        var id: String
        var hasReply: Bool
        var answeredAt: Int64
        var segment: AnswerLogSegment
        var replyOffset: Int64
        var replyLength: Int
    }

    /// The last `limit` records (a ring of that size over both segments, so memory follows the window, not the log),
    /// then the newest of each id, oldest first.
    private func newest(limit: Int) throws -> [Entry] {
        guard limit > 0 else { return [] }
        var ring: [Entry] = []
        var head = 0
        for segment in try AnswerLogSegment.list(in: directory).suffix(2) {
            try segment.scan { body in
                let entry = Entry(id: body.id, hasReply: body.hasReply, answeredAt: body.answeredAtEpochMillis,
                                  segment: segment,
                                  replyOffset: body.fileOffset + Int64(body.replyStart), replyLength: body.replyLength)
                if ring.count < limit {
                    ring.append(entry)
                } else {
                    ring[head] = entry
                    head = (head + 1) % limit
                }
            }
        }
        var seen = Set<String>()
        var newestFirst: [Entry] = []
        for index in (0..<ring.count).reversed() {
            let entry = ring[(head + index) % ring.count]
            if seen.insert(entry.id).inserted { newestFirst.append(entry) }
        }
        return newestFirst.reversed()
    }
}

extension AnswerLog {
    /// The open segment and the lock: what only the writer holds.
    private struct Writer {
        let directory: String
        /// Held while this writer lives: released with it.
        let lock: ExclusiveFileLock
        var segment: AnswerLogSegment
        var descriptor: CInt
        /// Where the next record goes: the end of the last whole one.
        var offset: Int64
        /// The file's size: zeros from `offset` to here.
        var allocated: Int64
        var records: Int
        /// One batch's records, kept between batches (unless a burst grew it past 1 MiB).
        var buffer: [UInt8] = []

        /// Creates the directory if needed, takes the lock, drops segments older than the window's two, and opens the
        /// newest for appending after its last whole record (what follows it is zeroed).
        init(directory: String) throws(InventoryError) {
            self.directory = directory
            if mkdir(directory, 0o750) == 0 {
                let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast()
                    .joined(separator: "/")
                try Self.syncDirectory(parent.isEmpty ? (directory.hasPrefix("/") ? "/" : ".") : parent)
            } else if errno != EEXIST {
                throw AnswerLogIO.failure("create directory", directory)
            }
            do {
                lock = try ExclusiveFileLock.acquire(path: directory + "/lock")
            } catch {
                let reason = switch error {
                case .held: "another writer holds this answer log (a second worker on the same database?)"
                case .unusable(let reason): reason
                }
                throw .storage(operation: "answer log: lock", path: directory, reason: reason)
            }
            var descriptor: CInt = -1
            var opened = false
            defer { if !opened, descriptor >= 0 { Glibc.close(descriptor) } }
            var segments = try AnswerLogSegment.list(in: directory)
            while segments.count > 2 { unlink(segments.removeFirst().path) }
            let segment = segments.last ?? AnswerLogSegment(generation: 1, directory: directory)
            descriptor = open(segment.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else { throw AnswerLogIO.failure("open", segment.path) }
            if segments.isEmpty { try Self.syncDirectory(directory) }
            let (validEnd, count) = try segment.scan { _ in }
            // Whatever follows the last whole record — a write a crash tore, records of a batch that never finished
            // — is zeroed, so nothing of it can be read after the records appended from here.
            let size = Int64(lseek(descriptor, 0, SEEK_END))
            if size > validEnd {
                try Self.writeZeros(descriptor, from: validEnd, to: size, path: segment.path)
                guard fdatasync(descriptor) == 0 else { throw AnswerLogIO.failure("fdatasync", segment.path) }
            }
            self.segment = segment
            self.descriptor = descriptor
            self.offset = validEnd
            self.allocated = max(size, validEnd)
            self.records = count
            opened = true
        }

        /// Closes the segment; the lock goes with the writer.
        func close() {
            Glibc.close(descriptor)
        }

        mutating func append(_ answers: [AnsweredMessage], keepingLast limit: Int) throws(InventoryError) {
            buffer.removeAll(keepingCapacity: true)
            for answer in answers { try AnswerLogRecord.append(answer, to: &buffer) }
            if offset + Int64(buffer.count) > allocated {
                // The batch's fdatasync below makes the new size durable with the records.
                let end = (offset + Int64(buffer.count) + Self.extent - 1) / Self.extent * Self.extent
                do {
                    try Self.writeZeros(descriptor, from: allocated, to: end, path: segment.path)
                    allocated = end
                } catch {
                    _ = ftruncate(descriptor, off_t(allocated))
                    throw error
                }
            }
            let written = buffer.withUnsafeBytes { bytes -> Bool in
                var done = 0
                while done < bytes.count {
                    let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done,
                                       off_t(offset) + off_t(done))
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { return false }
                    done += count
                }
                return true
            }
            guard written, fdatasync(descriptor) == 0 else {
                let failure = AnswerLogIO.failure(written ? "fdatasync" : "write", segment.path)
                // Nothing of a failed batch stays to be read as an answer: the next batch is written where it began.
                _ = ftruncate(descriptor, off_t(offset))
                allocated = offset
                throw failure
            }
            offset += Int64(buffer.count)
            records += answers.count
            if buffer.capacity > 1 << 20 { buffer = [] }
            if records >= limit { rotate() }
        }

        /// Starts the next segment and removes the one before the current: the current one holds the window now.
        /// Best effort — the batch is already durable; on failure the current segment grows and the next batch tries
        /// again.
        private mutating func rotate() {
            let next = AnswerLogSegment(generation: segment.generation + 1, directory: directory)
            let descriptor = open(next.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else { return }
            guard (try? Self.syncDirectory(directory)) != nil else {
                Glibc.close(descriptor)
                unlink(next.path)
                return
            }
            if segment.generation > 1 {
                unlink(AnswerLogSegment(generation: segment.generation - 1, directory: directory).path)
            }
            Glibc.close(self.descriptor)
            self.segment = next
            self.descriptor = descriptor
            self.offset = 0
            self.allocated = 0
            self.records = 0
        }

        /// What a segment grows by.
        static let extent: Int64 = 4 << 20
        private static let zeros = [UInt8](repeating: 0, count: 1 << 18)

        /// Zeros over `start..<end` (not synced).
        private static func writeZeros(_ descriptor: CInt, from start: Int64, to end: Int64,
                                       path: String) throws(InventoryError) {
            var position = start
            while position < end {
                let count = zeros.withUnsafeBytes { zeros in
                    pwrite(descriptor, zeros.baseAddress!, Int(min(Int64(zeros.count), end - position)), off_t(position))
                }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { throw AnswerLogIO.failure("write", path) }
                position += Int64(count)
            }
        }

        /// Makes the directory's entries (a created or removed file) durable.
        private static func syncDirectory(_ path: String) throws(InventoryError) {
            let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard descriptor >= 0 else { throw AnswerLogIO.failure("open", path) }
            defer { Glibc.close(descriptor) }
            guard fsync(descriptor) == 0 else { throw AnswerLogIO.failure("fsync", path) }
        }
    }
}
