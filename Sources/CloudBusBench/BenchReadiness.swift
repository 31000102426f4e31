import AMQP
import CloudBus
import CloudBusAMQP
import Foundation
import Logging
import Worker

/// Waits until a freshly started responder answers an EchoMsg through the project's own `RPCClient`, which also
/// checks end to end that its replies are well-formed envelopes matched by correlation id.
public enum BenchReadiness {
    static func waitUntilAnswering(_ responder: any BenchResponder, amqp: AMQPConfiguration,
                                   within limit: Duration = .seconds(30)) async throws -> RPCReply {
        do {
            return try await waitUntilAnswering(queue: responder.queue, amqp: amqp, within: limit)
        } catch let silent as Silent {
            throw BenchError.responderSilent(responder: responder.kind.rawValue, queue: responder.queue,
                                             detail: silent.detail)
        }
    }

    /// No echo on `queue` was answered in time: the last attempt's error and the bound.
    public struct Silent: Error, CustomStringConvertible {
        public let detail: String
        public var description: String { detail }
    }

    /// Echoes to `queue` until one is answered and returns that reply. `check` runs before every attempt and ends the
    /// wait by throwing (a child process that exited, say).
    /// - Throws: ``Silent`` when nothing answered within `limit`; what `check` throws.
    public static func waitUntilAnswering(queue: String, amqp: AMQPConfiguration, within limit: Duration = .seconds(30),
                                          check: () throws -> Void = {}) async throws -> RPCReply {
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
        var lastError: any Error = Silent(detail: "no attempt made")
        while ContinuousClock.now < deadline {
            do {
                try check()
            } catch {
                await client.close()
                await connection.close()
                throw error
            }
            do {
                let reply = try await client.call(envelope: envelope, to: .queue(queue), timeout: .seconds(1))
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
        throw Silent(detail: "\(lastError) (for \(limit))")
    }
}
