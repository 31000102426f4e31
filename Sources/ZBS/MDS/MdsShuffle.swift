import Primitives
import Synchronization

/// The order in which one call tries its candidate MDS: a fresh permutation per call, so load spreads over the
/// MDS and the configured order carries no preference (ZStack: `Collections.shuffle`, unseeded).
///
/// Injectable so tests fix the order: ``seeded(_:)`` is reproducible, ``configuredOrder`` keeps the list order.
public struct MdsShuffle: Sendable {
    private let permutation: @Sendable (Int) -> [Int]

    /// `permutation(n)` must return a permutation of `0..<n`.
    public init(permutation: @escaping @Sendable (Int) -> [Int]) {
        self.permutation = permutation
    }

    /// Uniformly random with the system generator (the production order).
    public static let system = MdsShuffle { count in Array(0..<count).shuffled() }

    /// No shuffling: candidates in configured order. For tests that need A, B, C.
    public static let configuredOrder = MdsShuffle { count in Array(0..<count) }

    /// Uniform shuffles from a seeded generator: the same seed gives the same sequence of orders.
    public static func seeded(_ seed: UInt64) -> MdsShuffle {
        let generator = Mutex(SplitMix64(seed: seed))
        return MdsShuffle { count in
            generator.withLock { generator in Array(0..<count).shuffled(using: &generator) }
        }
    }

    /// `items` in this call's order.
    public func apply<Item>(_ items: [Item]) -> [Item] {
        let order = permutation(items.count)
        precondition(order.sorted() == Array(0..<items.count), "MdsShuffle must return a permutation")
        return order.map { items[$0] }
    }
}

