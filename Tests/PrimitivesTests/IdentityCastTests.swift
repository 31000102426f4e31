import Primitives
import Testing

@Suite("identityCast: a value behind an existential, recognised by its exact type")
struct IdentityCastTests {
    private protocol Shape {}
    private struct Square: Shape, Equatable {
        var side: Int
        var label: String
        var tags: [String]
    }
    private struct Circle: Shape {
        var radius: Int
    }
    private class Node: Shape {
        let name: String
        init(name: String) { self.name = name }
    }
    private final class Leaf: Node {}

    @Test("the exact type gives the value back, its references intact")
    func exactType() {
        // A heap string and an array: a copy that lost a retain would crash or read freed memory below.
        let square = Square(side: 3, label: String(repeating: "edge", count: 8), tags: ["a", "b"])
        let shape: any Shape = square
        let cast = Self.open(shape, as: Square.self)
        #expect(cast == square)
        var copies = (0..<100).compactMap { _ in Self.open(shape, as: Square.self) }
        copies.append(square)
        #expect(copies.allSatisfy { $0 == square })
    }

    @Test("another type, a protocol existential or a subclass is not taken")
    func otherTypes() {
        #expect(Self.open(Circle(radius: 1) as any Shape, as: Square.self) == nil)
        #expect(Self.open(Square(side: 1, label: "", tags: []) as any Shape, as: Circle.self) == nil)
        // A subclass is a Node for `as?`, but not exactly one: documented, for value types and final classes only.
        #expect(Self.open(Leaf(name: "leaf") as any Shape, as: Node.self) == nil)
        let node = Node(name: "node")
        #expect(Self.open(node as any Shape, as: Node.self) === node)
    }

    /// Opens the existential as the hot path does (from a generic context whose parameter is the dynamic type).
    private static func open<Target>(_ shape: any Shape, as target: Target.Type) -> Target? {
        func opened<S: Shape>(_ shape: S) -> Target? { identityCast(shape, to: target) }
        return opened(shape)
    }
}
