import Foundation
import Primitives
import Testing

/// `JSONBytesDecoder.decode(_:from:)` (agent answers): `JSONDecoder`'s value for every body, and its error for every
/// body it rejects, whether the one pass vouched for the bytes or handed them over.
@Suite("JSONBytesDecoder on Data, with JSONDecoder behind it")
struct JSONBytesDecoderDataTests {
    struct Report: Decodable, Equatable {
        var states: [String: String]?
        var vmInShutdowns: [String]?
        var count: Int?
    }

    static let accepted = [
        #"{"states": {"vm-1": "Running", "vm-2": "Shutdown"}, "vmInShutdowns": ["vm-2"], "count": 2}"#,
        #"{"states": {}, "success": true, "error": null, "unknown": {"deep": [1, 2.5, "x"]}}"#,
        #"{"states": {"vm-\u00e9": "Paused"}, "count": 1.0}"#,  // a fraction where an Int is asked: JSONDecoder decides
        #"{"count": 1, "count": 2}"#,  // a repeated key: JSONDecoder decides
        #"  {"vmInShutdowns": null}  "#,
    ]

    @Test("accepted bodies decode to JSONDecoder's value", arguments: accepted)
    func sameValue(_ body: String) throws {
        let data = Data(body.utf8)
        #expect(try JSONBytesDecoder.decode(Report.self, from: data) == JSONDecoder().decode(Report.self, from: data))
    }

    @Test("a plain agent answer takes the one pass, not the fallback")
    func plainAnswerDecodesInOnePass() throws {
        let data = Data(Self.accepted[0].utf8)
        let onePass = try data.withUnsafeBytes { try JSONBytesDecoder.decode(Report.self, validated: $0) }
        #expect(onePass == Report(states: ["vm-1": "Running", "vm-2": "Shutdown"], vmInShutdowns: ["vm-2"], count: 2))
    }

    static let rejected = [
        "Traceback (most recent call last):",
        "[1, 2]",
        #"{"states": {"vm-1": 3}}"#,
        #"{"count": "two"}"#,
        #"{"states": {"vm-1": "Running"}"#,  // truncated
    ]

    @Test("rejected bodies throw JSONDecoder's error", arguments: rejected)
    func sameError(_ body: String) {
        let data = Data(body.utf8)
        var expected: (any Error)?
        do { _ = try JSONDecoder().decode(Report.self, from: data) } catch { expected = error }
        var thrown: (any Error)?
        do { _ = try JSONBytesDecoder.decode(Report.self, from: data) } catch { thrown = error }
        #expect(expected != nil)
        #expect(thrown is DecodingError)
        #expect(thrown.map { String(describing: $0) } == expected.map { String(describing: $0) })
    }
}
