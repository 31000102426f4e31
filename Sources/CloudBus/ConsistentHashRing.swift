/// The resource → node ring of ZStack's `ResourceDestinationMakerImpl` (`ConsistentHash<>(new ApacheHash(), 500,
/// …)`), reproduced bit for bit so that this worker and a Java management node pick the same owner for a resource.
///
/// - Each node puts 500 virtual keys `hash("<node>\(i)")`, i in 0..<500, in a map ordered by **signed** 32-bit
///   value; a key already present is overwritten by the later `add` (Java `TreeMap.put`).
/// - `remove` deletes the node's 500 virtual keys whoever owns them now, as Java does.
/// - `owner(of:)`: the owner of `hash(key)` itself if present, else of the first greater key, wrapping to the
///   smallest key; nil on an empty ring. O(log n) by binary search over a sorted array.
///
/// A value type: copy it, mutate the copy, publish the copy; readers never see a half-updated ring.
public struct ConsistentHashRing: Sendable, Hashable {
    /// Virtual nodes per member, as ZStack configures the ring.
    public static let virtualNodesPerNode = 500

    private var owners: [Int32: String] = [:]
    private var sortedHashes: [Int32] = []
    private var sortedOwners: [String] = []
    /// Nodes added and not removed since, in no particular order.
    public private(set) var members: Set<String> = []

    public init(nodes: some Sequence<String> = [String]()) {
        for node in nodes { insertVirtualNodes(of: node) }
        rebuildIndex()
    }

    /// Adds `node`'s virtual nodes (again, if already present: collided keys then move to it, as in Java).
    public mutating func add(_ node: String) {
        insertVirtualNodes(of: node)
        rebuildIndex()
    }

    /// Removes the 500 virtual keys derived from `node`, regardless of which node currently owns each one.
    public mutating func remove(_ node: String) {
        for index in 0..<Self.virtualNodesPerNode {
            owners.removeValue(forKey: Self.hash(node + String(index)))
        }
        members.remove(node)
        rebuildIndex()
    }

    /// The node that owns `key` (a resource UUID), or nil when the ring is empty.
    public func owner(of key: String) -> String? {
        guard !sortedHashes.isEmpty else { return nil }
        let target = Self.hash(key)
        var low = 0
        var high = sortedHashes.count
        while low < high {
            let middle = (low + high) / 2
            if sortedHashes[middle] < target { low = middle + 1 } else { high = middle }
        }
        return sortedOwners[low == sortedHashes.count ? 0 : low]
    }

    public var isEmpty: Bool { sortedHashes.isEmpty }

    /// Distinct virtual keys on the ring (less than 500 × members when keys collided).
    public var virtualNodeCount: Int { sortedHashes.count }

    /// commons-lang `HashCodeBuilder().append(s).hashCode()`: `17 * 37 + s.hashCode()` with int32 wrap-around.
    public static func hash(_ string: String) -> Int32 {
        629 &+ javaStringHash(string)
    }

    /// Java's `String.hashCode()`: Σ s[i]·31^(n-1-i) over UTF-16 code units, wrapping in 32 bits.
    public static func javaStringHash(_ string: String) -> Int32 {
        var hash: Int32 = 0
        for unit in string.utf16 {
            hash = 31 &* hash &+ Int32(unit)
        }
        return hash
    }

    private mutating func insertVirtualNodes(of node: String) {
        for index in 0..<Self.virtualNodesPerNode {
            owners[Self.hash(node + String(index))] = node
        }
        members.insert(node)
    }

    private mutating func rebuildIndex() {
        let entries = owners.sorted { $0.key < $1.key }
        sortedHashes = entries.map(\.key)
        sortedOwners = entries.map(\.value)
    }

    public static func == (lhs: ConsistentHashRing, rhs: ConsistentHashRing) -> Bool {
        lhs.owners == rhs.owners && lhs.members == rhs.members
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(owners)
        hasher.combine(members)
    }
}
