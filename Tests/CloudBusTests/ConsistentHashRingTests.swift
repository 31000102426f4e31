import CloudBus
import Primitives
import Testing

@Suite("Consistent-hash ring")
struct ConsistentHashRingTests {
    private static let nodeA = WireExamples.nodeA
    private static let nodeB = WireExamples.nodeB

    @Test func hashMatchesCommonsLangHashCodeBuilder() {
        #expect(ConsistentHashRing.hash("abc") == 96983)
        #expect(ConsistentHashRing.javaStringHash("abc") == 96354)
        #expect(ConsistentHashRing.javaStringHash("") == 0)
        #expect(ConsistentHashRing.hash("") == 629)
    }

    @Test func javaStringHashUsesUTF16CodeUnits() {
        #expect(ConsistentHashRing.javaStringHash("é") == 233)
        // U+1F600 is the surrogate pair D83D DE00 in UTF-16: 0xD83D * 31 + 0xDE00.
        #expect(ConsistentHashRing.javaStringHash("😀") == 0xD83D * 31 + 0xDE00)
    }

    @Test(arguments: [
        ("5ea9605b1d754077b2c9dfca05fc904b", Int32(-880_393_282), nodeB),
        ("0123456789abcdef0123456789abcdef", Int32(-1_783_316_539), nodeA),
        ("7dd11952b3c94fd5bbe94a140d7fbac6", Int32(-1_867_345_385), nodeA),
        ("ffffffffffffffffffffffffffffffff", Int32(2_024_427_125), nodeB),
    ])
    func referenceVectors(resource: String, hash: Int32, owner: String) {
        #expect(ConsistentHashRing.hash(resource) == hash)
        #expect(ConsistentHashRing(nodes: [Self.nodeA, Self.nodeB]).owner(of: resource) == owner)
        #expect(ConsistentHashRing(nodes: [Self.nodeB, Self.nodeA]).owner(of: resource) == owner)
    }

    @Test func twoNodesMakeAThousandVirtualNodes() {
        let ring = ConsistentHashRing(nodes: [Self.nodeA, Self.nodeB])
        #expect(ring.virtualNodeCount == 1000)
        #expect(ring.members == [Self.nodeA, Self.nodeB])
    }

    @Test func emptyRingHasNoOwner() {
        var ring = ConsistentHashRing()
        #expect(ring.owner(of: "anything") == nil)
        #expect(ring.isEmpty)
        ring.add(Self.nodeA)
        ring.remove(Self.nodeA)
        #expect(ring.owner(of: "anything") == nil)
        #expect(ring.members.isEmpty)
    }

    @Test func singleNodeOwnsEverything() {
        let ring = ConsistentHashRing(nodes: [Self.nodeA])
        var generator = SplitMix64(seed: 1)
        for _ in 0..<200 {
            #expect(ring.owner(of: MessageID.random(using: &generator)) == Self.nodeA)
        }
    }

    @Test func lookupAgreesWithALinearReferenceIncludingExactHitsAndWrapAround() {
        let nodes = [Self.nodeA, Self.nodeB, "c4ca4238a0b923820dcc509a6f75849b"]
        let ring = ConsistentHashRing(nodes: nodes)
        let reference = LinearRing(nodes: nodes)
        var generator = SplitMix64(seed: 7)
        var keys = (0..<2000).map { _ in MessageID.random(using: &generator) }
        keys += nodes.flatMap { node in (0..<500).map { "\(node)\($0)" } }  // exact hits on virtual keys
        // Keys hashing above the greatest ring key must wrap to the first one; find a few deterministically.
        var aboveLast: [String] = []
        while aboveLast.count < 3 {
            let key = MessageID.random(using: &generator)
            if ConsistentHashRing.hash(key) > reference.greatestHash { aboveLast.append(key) }
        }
        keys += aboveLast
        var wrapped = 0
        var exact = 0
        for key in keys {
            let expected = reference.owner(of: key)
            #expect(ring.owner(of: key) == expected.owner, "key \(key)")
            if expected.wrapped { wrapped += 1 }
            if expected.exact { exact += 1 }
        }
        #expect(wrapped >= 3, "the keys above the greatest ring key must wrap")
        #expect(exact >= 1000, "virtual keys must hit exactly")
    }

    @Test func distributionOverThreeNodesGivesEveryNodeAShare() {
        let nodes = [Self.nodeA, Self.nodeB, "c4ca4238a0b923820dcc509a6f75849b"]
        let ring = ConsistentHashRing(nodes: nodes)
        var generator = SplitMix64(seed: 42)
        var counts: [String: Int] = [:]
        for _ in 0..<1000 {
            counts[ring.owner(of: MessageID.random(using: &generator)) ?? "none", default: 0] += 1
        }
        #expect(Set(counts.keys) == Set(nodes))
        for node in nodes {
            #expect((counts[node] ?? 0) >= 100, "node \(node) got \(counts[node] ?? 0) of 1000")
        }
    }

    @Test func removingANodeMovesOnlyItsKeys() {
        let nodes = [Self.nodeA, Self.nodeB, "c4ca4238a0b923820dcc509a6f75849b"]
        let full = ConsistentHashRing(nodes: nodes)
        var reduced = full
        reduced.remove(Self.nodeB)
        #expect(reduced.members == [Self.nodeA, "c4ca4238a0b923820dcc509a6f75849b"])
        var generator = SplitMix64(seed: 3)
        for _ in 0..<500 {
            let key = MessageID.random(using: &generator)
            let before = full.owner(of: key)
            let after = reduced.owner(of: key)
            #expect(after != Self.nodeB)
            if before != Self.nodeB { #expect(after == before, "key \(key) moved although its owner stayed") }
        }
        #expect(reduced == ConsistentHashRing(nodes: [Self.nodeA, "c4ca4238a0b923820dcc509a6f75849b"]))
    }
}

/// The Java algorithm written the slow, obvious way: a TreeMap as an ordered list, scanned linearly.
private struct LinearRing {
    private var entries: [(hash: Int32, owner: String)] = []

    init(nodes: [String]) {
        var map: [Int32: String] = [:]
        for node in nodes {
            for index in 0..<500 { map[ConsistentHashRing.hash(node + String(index))] = node }
        }
        entries = map.map { (hash: $0.key, owner: $0.value) }.sorted { $0.hash < $1.hash }
    }

    var greatestHash: Int32 { entries.last?.hash ?? Int32.min }

    func owner(of key: String) -> (owner: String?, wrapped: Bool, exact: Bool) {
        let hash = ConsistentHashRing.hash(key)
        for entry in entries where entry.hash >= hash {
            return (entry.owner, false, entry.hash == hash)
        }
        return (entries.first?.owner, true, false)
    }
}
