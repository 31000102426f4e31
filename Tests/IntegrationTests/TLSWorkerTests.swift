import CloudBusAMQP
import AMQP
import CloudBus
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// The worker on the broker's TLS listener, configured the way an operator does it: an `amqps://` URL and the CA in
/// the configuration file, peer verification on by default.
@Suite("Worker over TLS", .enabled(if: TestBroker.available))
struct TLSWorkerTests {
    @Test("amqps:// with the CA from the config file: the worker verifies the broker and answers over TLS")
    func workerServesOverTLS() async throws {
        let tls = try TestBroker.tlsConfiguration()
        let ca = try #require(tls.tls?.caCertificatePath)
        let file = NSTemporaryDirectory() + "cbw-tls-\(UUID().uuidString).json"
        let json = #"{"amqp":{"url":"amqps://\#(tls.host):\#(tls.port)/%2F","caCertificate":"\#(ca)"}}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let resolved = try WorkerConfiguration.resolve(file: file, environment: ["CLOUDBUS_AMQP_PASSWORD": tls.password])
        let amqp = resolved.amqp
        #expect(amqp.tls?.verifyPeer == true, "verification is on unless the file turns it off")
        #expect(amqp.tls?.caCertificatePath == ca)
        try await withWorker(configure: { configuration in
            var secured = amqp
            secured.reconnectInitialDelay = .milliseconds(50)
            secured.reconnectMaxDelay = .milliseconds(500)
            configuration.amqp = secured
        }) { harness in
            for index in 0..<20 {
                let reply = try await harness.call(EchoMsg.className, ["payload": .string("over-tls-\(index)")])
                #expect(reply.success)
                #expect(reply.fields["payload"]?.stringValue == "over-tls-\(index)")
            }
            // Both of the worker's connections (consuming and publishing) are on the TLS port: it serves nothing else.
            #expect(harness.worker.connection.statistics.connected && harness.worker.publishConnection.statistics.connected)
        }
    }
}
