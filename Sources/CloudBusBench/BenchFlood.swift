@_spi(RawSession) import AMQP
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
///
/// `--hostile-headers`: instead, messages whose unknown headers hold a 1 MiB array (320k numbers) or a 480-deep
/// nesting — a known class (answered) and an unknown one (refused) of each — each followed at once by a good echo:
/// how long the good message waits behind one hostile body (the issue's bound: 200 ms).
struct BenchFlood: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flood", abstract: "Refusal rate for a flood of malformed messages, and the wait of a good one behind it.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Malformed messages per run.")
    var messages: Int = 5_000

    /// `--rounds` is the parent's option (see `Bench.rounds`): given after this command's name, it lands there.
    @ParentCommand var bench: Bench
    /// Rounds measured: `--rounds`, which the parent command parses (see `Bench.rounds`); 3 when not given.
    var rounds: Int { bench.rounds ?? 3 }

    // Not `--baseline-worker`: the parent command owns that name and would take the value.
    @Option(help: "Another build of cloudbus-worker to flood the same way, in the same run.")
    var baselineBuild: String?

    @Option(help: "Prefetch of the workers (the worker's default is 256).")
    var prefetch: UInt16 = 256

    @Flag(help: "Hostile unknown headers (1 MiB array, 480-deep nesting) instead of malformed JSON; each followed by a good echo.")
    var hostileHeaders = false

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
        print(hostileHeaders
              ? "flood --hostile-headers: 1 MiB array and 480-deep nesting in an unknown header, known and unknown class, each followed by an EchoMsg; \(rounds) rounds"
              : "flood: \(messages) malformed messages, then one EchoMsg; prefetch \(prefetch); \(rounds) rounds")
        for round in 1...rounds {
            for (name, path) in builds.inRoundOrder(round) {
                let responder = BenchWorkerResponder(setup: setup, reliable: false, baseline: path)
                try await responder.start()
                do {
                    _ = try await BenchReadiness.waitUntilAnswering(responder, amqp: configuration.amqp)
                    if hostileHeaders {
                        let waits = try await hostile(responder.queue, amqp: configuration.amqp)
                        results[name, default: []].append(contentsOf: waits.map(\.millis))
                        print("  round \(round) \(name): good message answered, ms after the hostile one was published: "
                              + waits.map { String(format: "%@ %.0f", $0.kind, $0.millis) }.joined(separator: ", "))
                    } else {
                        let millis = try await flood(responder.queue, amqp: configuration.amqp)
                        results[name, default: []].append(millis)
                        print(String(format: "  round %d %@: good message answered %.0f ms after the flood began (%.0f refusals/s)",
                                     round, name, millis, Double(messages) / (millis / 1000)))
                    }
                } catch {
                    print("  round \(round) \(name): FAILED \(error)")
                }
                if let problem = await responder.stop() { print("  \(name): \(problem)") }
                try? RabbitSession.deleteQueues(responder.leftoverQueues, configuration: configuration.amqp)
            }
        }
        for (name, _) in builds {
            let sorted = (results[name] ?? []).sorted()
            guard !sorted.isEmpty else { continue }
            let median = sorted[sorted.count / 2]
            if hostileHeaders {
                print(String(format: "%@: good message behind a hostile one: median %.0f ms, worst %.0f ms (%d samples)",
                             name, median, sorted.last ?? 0, sorted.count))
                continue
            }
            print(String(format: "%@: median %.0f ms for %d malformed + 1 good (%.0f refusals/s)",
                         name, median, messages, Double(messages) / (median / 1000)))
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// For each hostile kind: publishes it (confirmed), then a good echo at once, and measures the echo's wait from the
    /// hostile publish to its reply. The queue is consumed in order, so the echo's reply means the hostile one was
    /// taken; its own reply (answer or refusal) reaches the inbox unawaited.
    private func hostile(_ queue: String, amqp: AMQPConfiguration) async throws -> [(kind: String, millis: Double)] {
        let client = AMQPConnection(configuration: amqp, prefetch: 10)
        try await client.start()
        let rpc = RPCClient(connection: client)
        try await rpc.start()
        defer { Task { await rpc.close(); await client.close() } }
        let array = "[" + (0..<320_000).map { String(10 + $0 % 90) }.joined(separator: ",") + "]"
        let nesting = String(repeating: #"{"n":["#, count: 240) + "0" + String(repeating: "]}", count: 240)
        var waits: [(String, Double)] = []
        for (kind, header) in [("array", array), ("nesting", nesting)] {
            for className in [EchoMsg.className, "org.example.UnknownMsg"] {
                let id = MessageID.random()
                let headers = #"{"correlationId":"\#(id)","replyTo":"\#(rpc.inbox)","noReply":"false","schema":{},"x-hostile":\#(header)}"#
                let body = Data(#"{"\#(className)":{"payload":"hostile","id":"\#(id)","headers":\#(headers)}}"#.utf8)
                let start = ContinuousClock.now
                _ = try await rpc.send(raw: body, to: .queue(queue))
                let good = Data(#"{"\#(EchoMsg.className)":{"payload":"behind a hostile one"}}"#.utf8)
                let reply = try await rpc.call(envelope: good, to: .queue(queue), timeout: .seconds(60))
                let millis = start.duration(to: .now).inSeconds * 1000
                guard reply.success else { throw BenchError.setup("the echo behind a hostile message failed") }
                waits.append(("\(kind)/\(className == EchoMsg.className ? "known" : "unknown")", millis))
            }
        }
        return waits
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
