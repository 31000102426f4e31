@testable import AMQP
import Testing

@Suite("AMQP cluster URLs and endpoints")
struct ClusterConfigurationTests {
    private typealias Endpoint = AMQPConfiguration.Endpoint

    @Test("a cluster's URLs become its endpoints, in order, with the shared login and vhost")
    func parsesClusterURLs() throws {
        let configuration = try AMQPConfiguration(urls: [
            "amqp://alice:s%40cret@node1:5681/prod", "amqp://alice:s%40cret@node2:5682/prod", "amqp://alice:s%40cret@node3/prod",
        ])
        #expect(configuration.endpoints == [Endpoint(host: "node1", port: 5681), Endpoint(host: "node2", port: 5682),
                                            Endpoint(host: "node3", port: 5672)])
        #expect(configuration.host == "node1")
        #expect(configuration.port == 5681)
        #expect(configuration.user == "alice")
        #expect(configuration.password == "s@cret")
        #expect(configuration.virtualHost == "prod")
        #expect(configuration.redactedURL == "amqp://alice:***@node1:5681/prod")
        #expect(configuration.redactedURLs
            == "amqp://alice:***@node1:5681/prod,amqp://alice:***@node2:5682/prod,amqp://alice:***@node3:5672/prod")
        #expect(!configuration.redactedURLs.contains("cret"))

        let secure = try AMQPConfiguration(urls: ["amqps://u:p@a/%2F", "amqps://u:p@b:5999/%2F"])
        #expect(secure.endpoints == [Endpoint(host: "a", port: 5671), Endpoint(host: "b", port: 5999)])
        #expect(secure.tls != nil)
        #expect(try AMQPConfiguration(urls: ["amqp://u:p@a/"]) == AMQPConfiguration(url: "amqp://u:p@a/"))
    }

    @Test("URLs that differ in more than the address are refused, naming what differs and no password",
          arguments: [
              (["amqp://alice:topsecret@a/v", "amqp://bob:topsecret@b/v"], "user"),
              (["amqp://u:topsecret@a/v", "amqp://u:topsecret@b/w"], "virtual host"),
              (["amqp://u:topsecret@a/v", "amqps://u:topsecret@b/v"], "scheme"),
              (["amqp://u:topsecret@a/v", "amqp://u:othersecret@b/v"], "password"),
          ])
    func refusesMismatches(urls: [String], difference: String) {
        do {
            _ = try AMQPConfiguration(urls: urls)
            Issue.record("\(urls) was accepted")
        } catch {
            guard case .invalidURL(_, let reason) = error else {
                Issue.record("expected invalidURL, got \(error)")
                return
            }
            #expect(reason.contains(difference), "\(reason)")
            #expect(!error.description.contains("topsecret") && !error.description.contains("othersecret"),
                    "\(error)")
        }
    }

    @Test("an empty list, an address listed twice and a malformed member are refused; no password is echoed")
    func refusesEmptyDuplicateAndMalformed() {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(urls: []) }
        do {
            _ = try AMQPConfiguration(urls: ["amqp://u:topsecret@node1/", "amqp://u:topsecret@NODE1:5672/"])
            Issue.record("a duplicate address was accepted")
        } catch {
            #expect(error.description.contains("listed twice"), "\(error)")
            #expect(!error.description.contains("topsecret"), "\(error)")
        }
        // The last two do not parse at all: the password is still cut out of the message.
        for malformed in ["http://u:topsecret@node2/", "amqp://u:topsecret@node2:99999/", "amqp://u:topsecret@node2:port/",
                          "amqp://u:topsecret@no de/"] {
            do {
                _ = try AMQPConfiguration(urls: ["amqp://u:topsecret@node1/", malformed])
                Issue.record("\(malformed) was accepted")
            } catch {
                #expect(!error.description.contains("secret"), "\(error)")
            }
        }
    }

    @Test("host and port still denote the first endpoint, for reading and for writing")
    func hostAndPortAreTheFirstEndpoint() throws {
        var single = AMQPConfiguration(host: "mq", port: 5700)
        #expect(single.endpoints == [Endpoint(host: "mq", port: 5700)])
        single.host = "other"
        single.port = 5701
        #expect(single.endpoints == [Endpoint(host: "other", port: 5701)])
        #expect(AMQPConfiguration(tls: .init()).endpoints == [Endpoint(host: "127.0.0.1", port: 5671)])

        var cluster = try AMQPConfiguration(urls: ["amqp://u:p@a:1/", "amqp://u:p@b:2/"])
        cluster.port = 3
        #expect(cluster.endpoints == [Endpoint(host: "a", port: 3), Endpoint(host: "b", port: 2)])
        cluster.endpoints = []
        cluster.host = "c"
        #expect(cluster.endpoints == [Endpoint(host: "c", port: 5672)])

        #expect(Endpoint(host: "node1", port: 5672).description == "node1:5672")
        #expect(Endpoint(host: "::1", port: 5672).description == "[::1]:5672")
        #expect(Endpoint(host: "[::1]", port: 5672).description == "[::1]:5672")
    }
}
