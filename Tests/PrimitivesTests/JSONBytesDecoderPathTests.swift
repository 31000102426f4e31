import Foundation
@testable import Primitives
import Testing

/// The one-pass decoder builds coding paths only on demand; the paths it reports must still be `JSONDecoder`'s.
@Suite("JSONBytesDecoder coding paths")
struct JSONBytesDecoderPathTests {
    struct Leaf: Decodable { let c: Int }
    struct Middle: Decodable { let b: [Leaf] }
    struct Top: Decodable { let a: Middle }

    /// Records the coding path each nested decoder reports, to compare with Foundation's.
    struct PathProbe: Decodable {
        let paths: [String]
        init(from decoder: any Decoder) throws {
            struct Inner: Decodable {
                let path: String
                init(from decoder: any Decoder) throws { path = decoder.codingPath.map(\.stringValue).joined(separator: ".") }
            }
            let container = try decoder.container(keyedBy: AnyKey.self)
            var paths = [decoder.codingPath.map(\.stringValue).joined(separator: ".")]
            let nested = try container.nestedContainer(keyedBy: AnyKey.self, forKey: AnyKey("x"))
            paths.append(try nested.decode(Inner.self, forKey: AnyKey("y")).path)
            var list = try nested.nestedUnkeyedContainer(forKey: AnyKey("z"))
            paths.append(try list.decode(Inner.self).path)
            paths.append(try list.decode(Inner.self).path)
            self.paths = paths
        }
    }

    struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private func onePass<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { try JSONBytesDecoder.decode(type, validated: $0) }
    }

    private func path(of error: any Error) -> [String]? {
        guard case DecodingError.typeMismatch(_, let context) = error else { return nil }
        return context.codingPath.map(\.stringValue)
    }

    @Test("a type mismatch three containers deep names the same path as JSONDecoder")
    func mismatchPath() throws {
        let text = #"{"a":{"b":[{"c":1},{"c":"two"}]}}"#
        var fast: (any Error)?
        do { _ = try onePass(Top.self, text) } catch { fast = error }
        var foundation: (any Error)?
        do { _ = try JSONDecoder().decode(Top.self, from: Data(text.utf8)) } catch { foundation = error }
        let expected = try #require(foundation.flatMap(path(of:)))
        #expect(expected == ["a", "b", "Index 1", "c"])
        #expect(fast.flatMap(path(of:)) == expected)
    }

    @Test("decoders handed to nested types report their paths as JSONDecoder's do")
    func nestedDecoderPaths() throws {
        let text = #"{"x":{"y":{},"z":[{},{}]}}"#
        let fast = try onePass(PathProbe.self, text)
        let foundation = try JSONDecoder().decode(PathProbe.self, from: Data(text.utf8))
        #expect(foundation.paths == ["", "x.y", "x.z.Index 0", "x.z.Index 1"])
        #expect(fast.paths == foundation.paths)
    }

    @Test("a decoder fits an existential's inline buffer: handing it to init(from:) allocates no box")
    func decoderFitsInline() {
        #expect(MemoryLayout<ValueDecoder>.size <= 3 * MemoryLayout<Int>.size)
    }
}
