import AMQP
import CloudBus
import CloudBusAMQP
import Foundation
import Logging
import Worker

/// Waits until a freshly started responder answers an EchoMsg through the project's own `RPCClient`, which also
/// checks end to end that its replies are well-formed envelopes matched by correlation id.
enum BenchReadiness {
    static func waitUntilAnswering(_ responder: any BenchResponder, amqp: AMQPConfiguration,
                                   within limit: Duration = .seconds(30)) async throws -> RPCReply {
        // Probes sent before the responder has bound its queue come back unroutable; that is expected here.
        var logger = Logger(label: "bench.readiness")
        logger.logLevel = .error
        let connection = AMQPConnection(configuration: amqp, prefetch: 1, logger: logger)
        try await connection.start()
        let client = RPCClient(connection: connection)
        do {
            try await client.start()
        } catch {
            await connection.close()
            throw error
        }
        let envelope = Data(#"{"\#(EchoMsg.className)":{"payload":"bench readiness probe"}}"#.utf8)
        let deadline = ContinuousClock.now + limit
        var lastError: any Error = BenchError.setup("no attempt made")
        while ContinuousClock.now < deadline {
            do {
                let reply = try await client.call(envelope: envelope, to: .queue(responder.queue), timeout: .seconds(1))
                await client.close()
                await connection.close()
                return reply
            } catch {
                lastError = error
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        await client.close()
        await connection.close()
        throw BenchError.responderSilent(responder: responder.kind.rawValue, queue: responder.queue,
                                         detail: "\(lastError) (for \(limit))")
    }
}
