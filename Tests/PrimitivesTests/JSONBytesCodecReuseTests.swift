import Foundation
@testable import Primitives
import Testing

/// The one-pass decoder and encoder keep one spare state between calls: nested and concurrent calls must each work
/// on their own, and nothing of one call may show in the next.
@Suite("JSONBytes codec: reused state, string maps")
struct JSONBytesCodecReuseTests {
    /// Decodes a JSON document embedded as a string with a second one-pass decode, inside the first.
    struct Nested: Decodable, Equatable {
        let outer: String
        let inner: [String: String]
        init(outer: String, inner: [String: String]) {
            self.outer = outer
            self.inner = inner
        }
        init(from decoder: any Decoder) throws {
            enum Keys: String, CodingKey { case outer, embedded }
            let container = try decoder.container(keyedBy: Keys.self)
            let embedded = try container.decode(String.self, forKey: .embedded)
            inner = try Array(embedded.utf8).withUnsafeBytes {
                try JSONBytesDecoder.decode([String: String].self, validated: $0)
            }
            outer = try container.decode(String.self, forKey: .outer)
        }
    }

    private func onePass<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try Array(text.utf8).withUnsafeBytes { try JSONBytesDecoder.decode(type, validated: $0) }
    }

    @Test("a decode inside a decode gets its own state; the outer one reads on where it was")
    func nestedDecode() throws {
        let text = #"{"embedded":"{\"k\":\"0123456789abcdef0123456789abcdef\"}","outer":"0123456789abcdef0123456789abcdef-outer"}"#
        let value = try onePass(Nested.self, text)
        #expect(value == Nested(outer: "0123456789abcdef0123456789abcdef-outer",
                                inner: ["k": "0123456789abcdef0123456789abcdef"]))
    }

    @Test("a decode that gave up leaves nothing behind for the next one")
    func giveUpDoesNotLeak() throws {
        struct Probe: Decodable { let a: String }
        #expect(throws: JSONBytesDecoder.Unsupported.self) { try onePass(Probe.self, #"{"a":"x","a":"y"}"#) }
        #expect(try onePass(Probe.self, #"{"a":"0123456789abcdef0123456789abcdef"}"#).a
                == "0123456789abcdef0123456789abcdef")
    }

    @Test("decodes and encodes from many tasks at once agree with Foundation")
    func concurrentCalls() async {
        await withTaskGroup(of: Bool.self) { group in
            for task in 0..<4 {
                group.addTask {
                    (0..<100).allSatisfy { index in
                        let map = ["task": "\(task)", "index": "\(index)", "long": "value-\(task)-\(index)-0123456789"]
                        var bytes: [UInt8] = []
                        guard (try? JSONBytesEncoder.encode(map, into: &bytes)) != nil,
                            let back = try? bytes.withUnsafeBytes({
                                try JSONBytesDecoder.decode([String: String].self, validated: $0)
                            })
                        else { return false }
                        return back == map && (try? JSONDecoder().decode([String: String].self, from: Data(bytes))) == map
                    }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    @Test("a string map reads as JSONDecoder reads it", arguments: [
        "{}", #"{"a":"1"}"#, #"{"error":"org.zstack.header.errorcode.ErrorCode","b":"\u00e9\n"}"#, #" { "a" : "x" } "#,
    ])
    func stringMapAgrees(text: String) throws {
        let expected = try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        #expect(try onePass([String: String].self, text) == expected)
    }

    @Test("a string map with a wrong value or shape throws what JSONDecoder throws, at the same path", arguments: [
        #"{"a":1}"#, #"{"a":null}"#, #"{"a":{}}"#, "[]", #""s""#,
    ])
    func stringMapMismatch(text: String) throws {
        struct Holder: Decodable { let m: [String: String] }
        let wrapped = #"{"m":"# + text + "}"
        var foundation: (any Error)?
        do { _ = try JSONDecoder().decode(Holder.self, from: Data(wrapped.utf8)) } catch { foundation = error }
        var fast: (any Error)?
        do { _ = try onePass(Holder.self, wrapped) } catch { fast = error }
        let expected = try #require(foundation as? DecodingError)
        let got = try #require(fast as? DecodingError)
        #expect(Self.path(expected) == Self.path(got))
    }

    @Test("a string map is written as JSONEncoder writes it (read back equal)")
    func stringMapEncodes() throws {
        for map in [[:], ["a": "1"], ["q\"uote": "back\\slash\n", "é": "/"]] as [[String: String]] {
            var bytes: [UInt8] = []
            try JSONBytesEncoder.encode(map, into: &bytes)
            #expect(try JSONDecoder().decode([String: String].self, from: Data(bytes)) == map)
        }
    }

    private static func path(_ error: DecodingError) -> [String] {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
             .dataCorrupted(let context):
            context.codingPath.map(\.stringValue)
        @unknown default: []
        }
    }
}
