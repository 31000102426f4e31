/// A growable FIFO queue on a power-of-two circular buffer: O(1) amortised `append` and `popFirst`.
///
/// swift-collections' `Deque` is not a dependency of this package, and the executor only needs the two ends.
/// The buffer halves itself when it becomes three-quarters empty, so a queue that once held a burst does not keep
/// that memory for the rest of the process (the executor's memory must follow the *current* work, not the peak).
/// A ring that was never appended to owns no heap storage.
struct Ring<Element> {
    private var storage: ContiguousArray<Element?> = []
    private var head = 0
    private(set) var count = 0

    /// Capacity below which the buffer never shrinks, so a queue that hovers around a few elements does not
    /// reallocate back and forth.
    private static var shrinkFloor: Int { 16 }

    init() {}

    var isEmpty: Bool { count == 0 }

    /// Slots currently allocated (for tests and memory accounting).
    var capacity: Int { storage.count }

    var first: Element? { count == 0 ? nil : storage[head] }

    mutating func append(_ element: Element) {
        if count == storage.count {
            resize(to: Swift.max(4, storage.count * 2))
        }
        storage[(head &+ count) & (storage.count &- 1)] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head &+ 1) & (storage.count &- 1)
        count -= 1
        if count == 0 {
            head = 0
        }
        if storage.count > Self.shrinkFloor && count * 4 <= storage.count {
            resize(to: storage.count / 2)
        }
        return element
    }

    /// Removes every element, returning them oldest first, and releases the buffer.
    mutating func removeAll() -> [Element] {
        var drained: [Element] = []
        drained.reserveCapacity(count)
        for offset in 0..<count {
            // Every slot in [head, head+count) holds a value by construction.
            drained.append(storage[(head &+ offset) & (storage.count &- 1)]!)
        }
        storage = []
        head = 0
        count = 0
        return drained
    }

    private mutating func resize(to newCapacity: Int) {
        precondition(newCapacity >= count && newCapacity.nonzeroBitCount == 1)
        var resized = ContiguousArray<Element?>(repeating: nil, count: newCapacity)
        for offset in 0..<count {
            resized[offset] = storage[(head &+ offset) & (storage.count &- 1)]
        }
        storage = resized
        head = 0
    }
}

extension Ring: Sendable where Element: Sendable {}
