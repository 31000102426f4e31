import AMQP
import CloudBusTesting
import Foundation
import Testing

/// AMQP over TLS against the test broker's TLS listener (127.0.0.1, certificates from `scripts/tls-certs.sh`), with
/// peer and hostname verification on: the configuration an operator is told to use.
@Suite("AMQP over TLS on the real broker", .enabled(if: TestBroker.available), .serialized)
struct TLSConnectionTests {
    @Test("verified peer: 500 confirmed publishes come back through a consumer over TLS, in order, bodies intact")
    func verifiedRoundTrip() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.tlsConfiguration(), prefetch: 50)
        try await withTeardown({ await connection.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.tls")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            let deliveries = StreamCollector(try await connection.consume(ConsumerSpecification(queue: queue)))
            // Bodies of several sizes, up to larger than one TLS record (16 KiB): a frame split across records, and
            // records left in OpenSSL's buffer after a read, must still be read without waiting for more bytes.
            let bodies = (0..<500).map { index in Array(repeating: UInt8(index % 251), count: 1 + (index * 97) % 40_000) }
            try await withThrowingTaskGroup(of: PublishOutcome.self) { group in
                for body in bodies {
                    group.addTask {
                        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: body))
                    }
                }
                for try await outcome in group { #expect(outcome == .confirmed) }
            }
            var received: [[UInt8]] = []
            while received.count < bodies.count, let delivery = await deliveries.next(within: .seconds(10)) {
                received.append(delivery.body)
                connection.ack(delivery.tag)
            }
            #expect(received.count == bodies.count)
            #expect(Set(received) == Set(bodies), "every body arrived intact")
        }
    }

    @Test("a client certificate from the broker's CA is accepted (mutual TLS)")
    func clientCertificate() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.tlsConfiguration(clientCertificate: true))
        try await withTeardown({ await connection.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.tls-client")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            #expect(try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: [1])) == .confirmed)
        }
    }

    @Test("a broker whose certificate the trusted CA did not sign is refused, with the reason, and never logged into")
    func wrongCARefused() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.tlsConfiguration(trusting: "stranger-ca.pem"))
        try await withTeardown({ await connection.close() }) {
            do {
                try await connection.start()
                Issue.record("a broker the trusted CA never signed was accepted")
            } catch let error as AMQPError {
                guard case .connectFailed(let host, _, let reason) = error else {
                    Issue.record("expected connectFailed, got \(error)")
                    return
                }
                #expect(host == "localhost")
                #expect(reason.lowercased().contains("ssl") || reason.lowercased().contains("certificate"),
                        "the reason names the TLS failure: \(reason)")
            } catch {
                Issue.record("expected AMQPError, got \(error)")
            }
        }
        // The contrast that makes the refusal meaningful: the same listener with verification off is reachable.
        let unverified = AMQPConnection(
            configuration: try TestBroker.tlsConfiguration(trusting: "stranger-ca.pem", verifyPeer: false))
        try await withTeardown({ await unverified.close() }) { try await unverified.start() }
    }

    /// rabbitmq-c 0.11 matches the host against the certificate's DNS names only, never its IP addresses.
    @Test("hostname verification is by DNS name: localhost verifies, 127.0.0.1 is refused though the certificate lists it")
    func hostnameVerification() async throws {
        let byName = try TestBroker.tlsConfiguration()
        #expect(byName.host == "localhost")
        let named = AMQPConnection(configuration: byName)
        try await withTeardown({ await named.close() }) { try await named.start() }

        var byAddress = byName
        byAddress.host = "127.0.0.1"
        let addressed = AMQPConnection(configuration: byAddress)
        try await withTeardown({ await addressed.close() }) {
            do {
                try await addressed.start()
                Issue.record("rabbitmq-c verified an IP address: docs/operations.md says it cannot, fix the doc")
            } catch let error as AMQPError {
                #expect("\(error)".contains("hostname verification"), "\(error)")
            }
        }
    }
}
