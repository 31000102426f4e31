/// A growable byte buffer written through a pointer: the JSON encoder's output and the AMQP session's queued frames
/// (issue 15).
///
/// Why not `[UInt8]`: every `append` to an array checks that its storage is uniquely referenced and has room, out of
/// line for `append(contentsOf:)` — about a hundred instructions per short string, and a reply writes ~40 pieces.
/// Here an append is a capacity compare and a copy. Noncopyable, so the storage has one owner and is freed once;
/// its bytes are seen only inside a closure (``withBytes(_:)``, ``appendUninitialized(capacity:_:)``) or copied out
/// (``bytes()``), never through a view that could outlive a later append.
public struct OutputBytes: ~Copyable {
    private var start: UnsafeMutableRawPointer
    private var capacity: Int
    /// Bytes held now.
    public private(set) var count = 0

    public init(capacity: Int = 1024) {
        self.capacity = Swift.max(capacity, 16)
        start = .allocate(byteCount: self.capacity, alignment: 1)
    }

    deinit { start.deallocate() }

    /// Bytes the buffer can hold before it grows: an owner that keeps it between uses decides from this whether it
    /// is worth keeping.
    public var reservedCapacity: Int { capacity }

    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        if count == capacity { grow(toHold: count + 1) }
        start.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        if capacity - count < bytes.count { grow(toHold: count + bytes.count) }
        (start + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        append(UnsafeRawBufferPointer(bytes))
    }

    /// A literal's bytes (`"true"`, `"null"`): no array built for them.
    @inline(__always)
    public mutating func append(_ literal: StaticString) {
        append(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    public mutating func append<S: Sequence<UInt8>>(contentsOf bytes: S) {
        for byte in bytes { append(byte) }
    }

    /// Lets `body` write up to `capacity` bytes after the last one and keeps the number it returns — for a C
    /// encoder that writes into a buffer and reports its size, with no zero fill first. Nothing is kept if `body`
    /// throws.
    public mutating func appendUninitialized<E: Error>(
        capacity: Int, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> Int
    ) throws(E) {
        if self.capacity - count < capacity { grow(toHold: count + capacity) }
        let written = try body(UnsafeMutableRawBufferPointer(start: start + count, count: capacity))
        precondition(written >= 0 && written <= capacity, "wrote \(written) of \(capacity) bytes")
        count += written
    }

    /// Overwrites bytes already written, at `offset` (a frame's size, known once its payload is).
    public mutating func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count, "store past the bytes written")
        withUnsafeBytes(of: value) { (start + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Drops the bytes from `offset` on (a rollback to an earlier `count`).
    public mutating func removeSuffix(from offset: Int) {
        precondition(offset >= 0 && offset <= count, "offset \(offset) outside 0...\(count)")
        count = offset
    }

    /// Forgets what was written; the storage stays for the next use.
    public mutating func removeAll() { count = 0 }

    /// Forgets what was written, and gives the storage back when it grew past `limit` (a buffer that once held a
    /// huge message should not keep its size for good): the next use starts at `initialCapacity`.
    public mutating func removeAll(keepingCapacityUpTo limit: Int, initialCapacity: Int = 1024) {
        count = 0
        guard capacity > limit else { return }
        start.deallocate()
        capacity = Swift.max(initialCapacity, 16)
        start = .allocate(byteCount: capacity, alignment: 1)
    }

    /// `body` over the bytes written so far. The pointer is valid only inside `body`.
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// The bytes written so far as an array of exactly their size (a reply kept as a cached answer is counted by its
    /// capacity).
    public func bytes() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: start, byteCount: count) }
            initialized = count
        }
    }

    @inline(never)
    private mutating func grow(toHold needed: Int) {
        let newCapacity = Swift.max(needed, capacity * 2)
        let newStart = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 1)
        newStart.copyMemory(from: start, byteCount: count)
        start.deallocate()
        start = newStart
        capacity = newCapacity
    }
}
