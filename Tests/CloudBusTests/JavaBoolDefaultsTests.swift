import CloudBus
import Foundation
import KVMMessages
import Primitives
import Testing

/// Replies read as Java reads them: an absent `success` is true, absent `canceled`/`connected` false; present
/// values win, and encoding writes them as plain booleans.
@Suite("Java boolean defaults")
struct JavaBoolDefaultsTests {
    @Test func absentFieldsTakeJavasInitialisers() throws {
        let empty = Data("{}".utf8)
        let reply = try JSONDecoder().decode(VmStateChangedOnHostReply.self, from: empty)
        #expect(reply.success && !reply.canceled && reply.error == nil)
        let ping = try JSONDecoder().decode(PingHostReply.self, from: empty)
        #expect(ping.success && !ping.connected && !ping.noReconnect && !ping.canceled)
    }

    @Test func presentValuesWinAndEncodeAsBooleans() throws {
        let body = Data(#"{"success":false,"canceled":true,"connected":true}"#.utf8)
        let ping = try JSONDecoder().decode(PingHostReply.self, from: body)
        #expect(!ping.success && ping.canceled && ping.connected)
        let encoded = try JSONValue(parsing: JSONEncoder().encode(ping))
        #expect(encoded["success"] == .bool(false))
        #expect(encoded["connected"] == .bool(true))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MessageReply.self, from: Data(#"{"success":"yes"}"#.utf8))
        }
    }
}

/// `noReply`/`isReply` are Java strings read with `Boolean.parseBoolean`: "true" in any case, nothing else.
@Suite("String booleans in headers")
struct HeaderBooleanTests {
    @Test(arguments: [
        "true", "TRUE", "True", "tRuE", "truE", "false", "", "t", "tru", "true ", " true", "truee", "1", "yes",
        "\u{FF54}rue", "tr\u{00FC}e", "TRU\u{0045}\u{0301}", "\u{0074}\u{0072}\u{0075}\u{0065}", "T\0UE", "4RUE", "TR5E",
    ])
    func readAsZStackReadsThem(_ text: String) {
        let expected = text.lowercased() == "true"
        #expect(MessageHeaders(noReply: text).isNoReply == expected)
        #expect(MessageHeaders(isReply: text).isReplyMessage == expected)
    }

    @Test func absentIsFalse() {
        #expect(!MessageHeaders().isNoReply && !MessageHeaders().isReplyMessage)
    }
}
