import AMQP
import ArgumentParser
import CloudBus
import CloudBusAMQP
import CommandOptions
import Foundation
import Primitives
import Worker

/// `cloudbus-bench flood`: N malformed messages, then one good echo, into a fresh worker's queue — how fast the worker
/// refuses bad input (each refusal is a dead-letter copy confirmed by the broker, then an ack) and how long the good
/// message behind the flood waits. The flood is published before the echo, so the echo's answer time is the time
/// the worker needed to get through the flood. With `--baseline-build` an earlier build runs the same flood in the
/// same run.
struct BenchFlood: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flood", abstract: "Refusal rate for a flood of malformed messages, and the wait of a good one behind it.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Malformed messages per run.")
    var messages: Int = 5_000

    @Option(help: "Runs per worker, interleaved with the baseline's.")
    var rounds: Int = 3

    // Not `--baseline-worker`: the parent command owns that name and would take the value.
    @Option(help: "Another build of cloudbus-worker to flood the same way, in the same run.")
    var baselineBuild: String?

    @Option(help: "Prefetch of the workers (the worker's default is 256).")
    var prefetch: UInt16 = 256

    func validate() throws {
        guard messages > 0, rounds > 0 else { throw ValidationError("--messages and --rounds must be > 0") }
    }

    func run() async throws {
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "warning")
        let scratch = try BenchSetup.makeScratchDirectory("flood")
        let setup = BenchSetup(amqp: configuration.amqp, scratchDirectory: scratch, prefetch: prefetch,
                               python: "python3", pikaScript: "")
        var results: [String: [Double]] = [:]
        let builds: [(String, String?)] = [("worker", nil)] + (baselineBuild.map { [("worker-baseline", $0)] } ?? [])
        print("flood: \(messages) malformed messages, then one EchoMsg; prefetch \(prefetch); \(rounds) rounds")
        for round in 1...rounds {
            for (name, path) in builds {
                let responder = BenchWorkerResponder(setup: setup, reliable: false, baseline: path)
                try await responder.start()
                do {
                    _ = try await BenchReadiness.waitUntilAnswering(responder, amqp: configuration.amqp)
                    let millis = try await flood(responder.queue, amqp: configuration.amqp)
                    results[name, default: []].append(millis)
                    print(String(format: "  round %d %@: good message answered %.0f ms after the flood began (%.0f refusals/s)",
                                 round, name, millis, Double(messages) / (millis / 1000)))
                } catch {
                    print("  round \(round) \(name): FAILED \(error)")
                }
                if let problem = await responder.stop() { print("  \(name): \(problem)") }
                try? NullResponder.deleteQueues(responder.leftoverQueues, configuration: configuration.amqp)
            }
        }
        for (name, _) in builds {
            let sorted = (results[name] ?? []).sorted()
            guard !sorted.isEmpty else { continue }
            let median = sorted[sorted.count / 2]
            print(String(format: "%@: median %.0f ms for %d malformed + 1 good (%.0f refusals/s)",
                         name, median, messages, Double(messages) / (median / 1000)))
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// Publishes the flood and the echo, and returns the milliseconds from the flood's first publish to the echo's
    /// reply.
    private func flood(_ queue: String, amqp: AMQPConfiguration) async throws -> Double {
        let client = AMQPConnection(configuration: amqp, prefetch: 10)
        try await client.start()
        let rpc = RPCClient(connection: client)
        try await rpc.start()
        defer { Task { await rpc.close(); await client.close() } }
        let malformed = Array(#"{"org.zstack.header.host.PingHostMsg": {"hostUuid": "#.utf8)
        let echo = Data(#"{"\#(EchoMsg.className)":{"payload":"behind the flood"}}"#.utf8)
        let start = ContinuousClock.now
        for _ in 0..<messages {
            client.publishWithoutConfirm(OutgoingMessage(exchange: "", routingKey: queue, body: malformed))
        }
        let reply = try await rpc.call(envelope: echo, to: .queue(queue), timeout: .seconds(120))
        guard reply.success else { throw BenchError.setup("the echo behind the flood failed: \(reply.raw.count) bytes") }
        return start.duration(to: .now).inSeconds * 1000
    }
}
