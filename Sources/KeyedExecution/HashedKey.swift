/// A key with its hash computed once, for the executor's own tables.
///
/// A key is looked up three or four times per job (admitted into its lane, found again when its runner finishes,
/// its lane released), and with the worker's `String` keys each lookup hashed the whole string: a resource uuid's 32
/// bytes, or the benchmark's echo key, its 200-byte payload (~700 instructions, counted with callgrind). The executor
/// hashes the key once at `submit` and carries this along with the job, so the later lookups hash one word. A
/// caller that asks about the key before submitting (``KeyedSerialExecutor/queueDepth(for:)-(HashedKey<Key>)``)
/// makes one itself and passes it to both.
public struct HashedKey<Key: Hashable & Sendable>: Hashable, Sendable, CustomStringConvertible {
    public let key: Key
    /// `key.hashValue`: seeded per process like every `Hasher`, so it is no easier to collide on purpose.
    let hash: Int

    public init(_ key: Key) {
        self.key = key
        self.hash = key.hashValue
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.hash == rhs.hash && lhs.key == rhs.key }

    public var description: String { "\(key)" }
}
