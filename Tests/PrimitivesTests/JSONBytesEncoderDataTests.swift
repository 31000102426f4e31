import Foundation
import Primitives
import Testing

/// `JSONBytesEncoder.data(_:)` (agent commands): `JSONEncoder`'s very bytes (`.withoutEscapingSlashes`) for what the
/// one pass writes, `JSONEncoder`'s values for what it hands over.
@Suite("JSONBytesEncoder to Data, with JSONEncoder behind it")
struct JSONBytesEncoderDataTests {
    static func reference<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return try encoder.encode(value)
    }

    static let commandValues = [
        "4e0e7a1c2f3b4d5e8a9b0c1d2e3f4a5b",
        "",
        "quote \" backslash \\ slash / tab \t newline \n",
        "control \u{01} \u{1F} unicode é 漢字 \u{1F600}",
    ]

    @Test("one-member commands: JSONEncoder's very bytes", arguments: commandValues)
    func oneMemberCommand(_ value: String) throws {
        #expect(try JSONBytesEncoder.data(["hostUuid": value]) == Self.reference(["hostUuid": value]))
    }

    struct Named: Encodable {
        var name = "x\"y/z"
        var count = 1
    }

    struct Flagged: Encodable {
        var flag = true
    }

    @Test("one member whose object two values write: both's members in order; a value that writes nothing gives up")
    func memberWrittenByTwoValues() throws {
        let bytes = try JSONBytesEncoder.bytes(member: "org.zstack.Cls") { encoder in
            try Named().encode(to: encoder)
            try Flagged().encode(to: encoder)
        }
        #expect(bytes == Array(#"{"org.zstack.Cls":{"name":"x\"y/z","count":1,"flag":true}}"#.utf8))
        #expect(throws: JSONBytesDecoder.Unsupported.self) { try JSONBytesEncoder.bytes(member: "c") { _ in } }
        // The state given back after the failure starts the next encode clean.
        var next: [UInt8] = []
        try JSONBytesEncoder.encode(Flagged(), into: &next)
        #expect(next == Array(#"{"flag":true}"#.utf8))
    }

    struct Stamped: Encodable {
        var uuid: String
        var at: Date
    }

    @Test("a value the one pass does not write (a Date) comes from JSONEncoder")
    func fallback() throws {
        let value = Stamped(uuid: "vm-1", at: Date(timeIntervalSince1970: 1_700_000_000))
        var bytes: [UInt8] = []
        #expect(throws: JSONBytesDecoder.Unsupported.self) { try JSONBytesEncoder.encode(value, into: &bytes) }
        // Compared as parsed values: JSONEncoder's member order is its dictionary's, which varies between encodes.
        let data = try JSONBytesEncoder.data(value)
        #expect(try JSONValue(parsing: data) == JSONValue(parsing: Self.reference(value)))
    }
}
