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
