@testable import AMQP
import Testing

@Suite("AMQP URL and configuration")
struct ConfigurationTests {
    @Test func parsesFullURL() throws {
        let configuration = try AMQPConfiguration(url: "amqp://alice:s%40cret@broker.example:5699/prod%2Fzstack")
        #expect(configuration.host == "broker.example")
        #expect(configuration.port == 5699)
        #expect(configuration.user == "alice")
        #expect(configuration.password == "s@cret")
        #expect(configuration.virtualHost == "prod/zstack")
        #expect(configuration.tls == nil)
    }

    @Test func defaultsAndTLS() throws {
        let plain = try AMQPConfiguration(url: "amqp://127.0.0.1")
        #expect(plain.port == 5672)
        #expect(plain.virtualHost == "/")
        let secure = try AMQPConfiguration(url: "amqps://u:p@mq.local/%2F")
        #expect(secure.port == 5671)
        #expect(secure.tls?.verifyPeer == true)
        #expect(secure.virtualHost == "/")
    }

    @Test func rejectsOtherSchemesAndNeverEchoesThePassword() {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "http://u:p@host/") }
        do {
            _ = try AMQPConfiguration(url: "amqp://u:topsecret@host/a/b")
            Issue.record("a two-segment vhost was accepted")
        } catch {
            #expect(!error.description.contains("topsecret"))
        }
        let configuration = AMQPConfiguration(password: "topsecret")
        #expect(!configuration.description.contains("topsecret"))
    }
}
