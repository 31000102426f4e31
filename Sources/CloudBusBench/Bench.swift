@_spi(RawSession) import AMQP
import ArgumentParser
import CloudBus
import CloudBusAMQP
import CommandOptions
import Foundation
import Worker

/// `cloudbus-bench`: RPC round trips through `P2P` with ZStack envelopes against the worker, the guarantee-matched
/// rabbitmq-c null responder (`null-confirm`, the primary baseline), the minimal null responder and the reference
/// pika peer, all driven by one rabbitmq-c load client whose cost does not depend on the responder. Responders
/// are interleaved round by round and every figure is a median over rounds, so a burst of load from another build
/// on the shared machine hits one round of every responder rather than all rounds of one.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudbus-bench",
        abstract: "Measure EchoMsg round trips against the worker, rabbitmq-c null responders and the pika peer.",
        discussion: """
            Every round runs every responder at every load point, each round starting one responder further \
            along the list given (so that each runs in every slot equally often over a multiple of the \
            responders' count of rounds): closed loops with W requests in flight (--windows) and open-loop fixed \
            rates (--rates). Each run warms up, then measures \
            for --duration seconds: requests/s, latency percentiles, and CPU µs per request of responder, client \
            and broker (--broker-pid). The report gives medians over --rounds rounds and the worker's ratios to \
            null-confirm and pika. The worker is a child process (`cloudbus-worker run`, the binary beside this \
            one, or CLOUDBUS_WORKER_BINARY), so are the null responders (`cloudbus-bench null-responder`) and the \
            pika peer; the load client is one thread of this process. The broker must be on loopback \
            (CLOUDBUS_AMQP_URL, CLOUDBUS_AMQP_PASSWORD); P2P/BROADCAST/NO_ROUTE are declared as ZStack declares \
            them, and every queue the bench creates is deleted.
            Subcommands measure one domain part each, in this process, with its own baseline: skip-registry, \
            vm-sync, zbs; simulate-agent runs a KVM host-agent simulator for the demo.
            """,
        subcommands: [BenchSkipRegistry.self, BenchAnswerLog.self, BenchVmSync.self, BenchZBS.self, BenchFlood.self, BenchHungKey.self, BenchSoak.self, BenchPingCost.self, BenchFleetModel.self, BenchFleet.self, BenchQueueTypes.self, SimulateAgent.self, BenchNullResponderCommand.self])

    enum Mode: String, EnumerableFlag {
        case transient, reliable, both

        static func help(for value: Mode) -> ArgumentHelp? {
            switch value {
            case .transient: "Transient requests (delivery mode 1), non-durable queues, no confirms on requests."
            case .reliable: "Persistent requests (delivery mode 2), durable queues, confirms on requests and null replies."
            case .both: "Transient, then reliable (default)."
            }
        }
    }

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Measured seconds per run, after the warm-up.")
    var duration: Double = 8

    @Option(help: "Warm-up seconds per run, excluded from the figures.")
    var warmup: Double = 2

    /// Optional, and read by the subcommands too: ArgumentParser gives an option the parent declares to the parent
    /// even when it follows a subcommand's name, so a subcommand's own `--rounds` never saw a value (`ping-cost
    /// --rounds 4` ran 3 rounds, `hung-key --rounds 5` one). Each subcommand takes this value, or its own default.
    @Option(help: "Rounds: every round runs every responder at every load point; figures are medians over rounds (default 3). Subcommands that measure in rounds take it too (each has its own default).")
    var rounds: Int?

    @Option(help: "Comma-separated closed-loop windows (requests kept in flight). Default 1,100, or none with --rates.")
    var windows: String?

    @Option(help: "Comma-separated fixed rates in requests/s (open loop, latency from each request's due time), e.g. 1000,2000,4000.")
    var rates: String?

    @Option(help: "Fixed-rate runs: requests outstanding at most (a due request waits for a free slot; its latency still counts from when it was due).")
    var maxInFlight: Int = 1000

    @Option(help: "Comma-separated responders, run in this order each round: worker, null-confirm (guarantee-matched null, the primary baseline), null, pika, worker-baseline (needs --baseline-worker).")
    var responders: String = "worker,null-confirm,null,pika"

    @Option(help: "Another build of cloudbus-worker (e.g. the commit before a change) for the worker-baseline responder.")
    var baselineWorker: String?

    @Flag var mode: Mode = .both

    @Flag(help: "Print one JSON document on stdout instead of tables (progress still goes to stderr).")
    var json = false

    @Option(help: "Bytes of the EchoMsg payload.")
    var payloadBytes: Int = 200

    @Option(help: "Prefetch of every responder (the worker's default is 256).")
    var prefetch: UInt16 = 256

    @Flag(help: "Give every request the same payload, hence the same executor key in the worker (serialises it).")
    var sameKey = false

    @Option(help: "The reference pika peer.")
    var pikaScript: String = "../shared/bench/peer_pika_worker.py"

    @Option(help: "Python interpreter for the pika peer.")
    var python: String = "python3"

    @Option(help: "PID of the broker's beam.smp, to report broker CPU per request.")
    var brokerPid: Int32?

    @Option(help: "Broker description printed with the machine facts.")
    var brokerName: String = "RabbitMQ (version not queried)"

    @Option(help: "Latency samples kept per run (preallocated).")
    var maxSamples: Int = 2_000_000

    func validate() throws {
        guard duration > 0, warmup >= 0 else { throw ValidationError("--duration must be > 0 and --warmup >= 0") }
        guard (rounds ?? 1) >= 1 else { throw ValidationError("--rounds must be >= 1") }
        guard (try? Self.numbers(windows ?? "1", in: 1...65535)) != nil else {
            throw ValidationError("--windows: comma-separated numbers 1...65535")
        }
        guard (try? Self.numbers(rates ?? "1", in: 1...1_000_000)) != nil else {
            throw ValidationError("--rates: comma-separated requests/s, 1...1000000")
        }
        guard (1...65535).contains(maxInFlight) else { throw ValidationError("--max-in-flight: 1...65535") }
        guard (try? parsedResponders()) != nil else {
            throw ValidationError("--responders: worker, null-confirm, null, pika, worker-baseline")
        }
        guard prefetch > 0 else { throw ValidationError("--prefetch must be > 0") }
        if (try? parsedResponders())?.contains(.workerBaseline) == true, baselineWorker == nil {
            throw ValidationError("--responders worker-baseline needs --baseline-worker PATH")
        }
        guard payloadBytes >= 0, maxSamples > 0 else { throw ValidationError("--payload-bytes and --max-samples must be positive") }
    }

    private static func numbers(_ text: String, in range: ClosedRange<Int>) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0.map { range.contains($0) } ?? false }) else {
            throw ValidationError("bad list \(text)")
        }
        return values.compactMap { $0 }
    }

    /// Closed-loop windows first, then fixed rates.
    private func loadPoints() throws -> [BenchLoadPoint] {
        let windowList = try windows.map { try Self.numbers($0, in: 1...65535) } ?? (rates == nil ? [1, 100] : [])
        let rateList = try rates.map { try Self.numbers($0, in: 1...1_000_000) } ?? []
        return windowList.map(BenchLoadPoint.window) + rateList.map(BenchLoadPoint.rate)
    }

    private func parsedResponders() throws -> [BenchResponderKind] {
        let values = responders.split(separator: ",").map { BenchResponderKind(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("bad responders") }
        return values.compactMap { $0 }
    }

    /// The bench only talks to a broker on this machine: its figures include the broker's CPU, and a remote broker
    /// would add a network the comparison is not about.
    static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]"
    }

    /// The echo bench's rounds.
    private var echoRounds: Int { rounds ?? 3 }

    func run() async throws {
        guard echoRounds <= 99 else { throw ValidationError("--rounds: 1...99") }
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "warning")
        guard configuration.amqp.endpoints.allSatisfy({ Self.isLoopback($0.host) }) else {
            throw ValidationError("the echo bench runs against a broker on loopback only (127.0.0.1), not \(configuration.amqp.redactedURL)")
        }
        let points = try loadPoints()
        let kinds = try parsedResponders()
        let modes: [Bool] = switch mode {
        case .transient: [false]
        case .reliable: [true]
        case .both: [false, true]
        }
        let scratch = try BenchSetup.makeScratchDirectory("echo")
        let setup = BenchSetup(amqp: configuration.amqp, scratchDirectory: scratch, prefetch: prefetch,
                               python: python, pikaScript: pikaScript, sameKey: sameKey)

        var report = BenchReport(
            machine: .init(processors: BenchProcStat.processorCount, cpuModel: BenchProcStat.cpuModel,
                           loadAverageAtStart: BenchProcStat.loadAverage, loadAverageAtEnd: "", broker: brokerName),
            settings: .init(warmupSeconds: warmup, durationSeconds: duration, rounds: echoRounds,
                            loads: points.map(\.label), responders: kinds.map(\.rawValue),
                            modes: modes.map { $0 ? "reliable" : "transient" }, payloadBytes: payloadBytes,
                            prefetch: Int(prefetch), sameKey: sameKey, maxInFlight: maxInFlight))
        var pikaUnavailable: String?
        if kinds.contains(.pika), let reason = BenchPikaResponder.unavailableReason(setup: setup) {
            pikaUnavailable = reason
            report.notes.append("pika runs skipped: \(reason)")
            progress("SKIPPING the pika peer: \(reason)")
        }

        try EchoLoadClient.declareBusExchanges(amqp: configuration.amqp)
        progress("bench: \(configuration.amqp.redactedURL), scratch \(scratch), load average \(BenchProcStat.loadAverage)")

        var brokerProbe: (@Sendable () -> Duration?)?
        if let brokerPid { brokerProbe = { BenchProcStat.cpuTime(pid: brokerPid) } }
        var runTag: UInt16 = UInt16.random(in: 0...0x7FFF)
        for reliable in modes {
            for round in 1...echoRounds {
                for kind in kinds.inRoundOrder(round) {
                    if kind == .pika, pikaUnavailable != nil { continue }
                    await runResponder(kind, round: round, reliable: reliable, points: points, setup: setup,
                                       brokerProbe: brokerProbe, runTag: &runTag, report: &report)
                }
            }
        }
        report.machine.loadAverageAtEnd = BenchProcStat.loadAverage
        report.summarise()
        if json { try report.printJSON() } else { report.printTables() }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// One responder in one round: start it, wait until it answers, run every load point, stop it, delete its queues.
    private func runResponder(_ kind: BenchResponderKind, round: Int, reliable: Bool, points: [BenchLoadPoint],
                              setup: BenchSetup, brokerProbe: (@Sendable () -> Duration?)?, runTag: inout UInt16,
                              report: inout BenchReport) async {
        let modeName = reliable ? "reliable" : "transient"
        let responder: any BenchResponder = switch kind {
        case .worker: BenchWorkerResponder(setup: setup, reliable: reliable)
        case .workerBaseline: BenchWorkerResponder(setup: setup, reliable: reliable, baseline: baselineWorker)
        case .null: BenchNullResponder(setup: setup, reliable: reliable)
        case .nullConfirm: BenchNullResponder(setup: setup, reliable: reliable, guaranteeMatched: true)
        case .pika: BenchPikaResponder(setup: setup)
        }
        var note: String?
        do {
            try await responder.start()
            let ready = try await BenchReadiness.waitUntilAnswering(responder, amqp: setup.amqp)
            if !ready.success { note = "readiness reply was an error: \(String(decoding: ready.raw, as: UTF8.self))" }
            for point in points {
                runTag &+= 1
                progress("\(modeName) round \(round)/\(echoRounds) \(kind.rawValue) \(point.label): \(warmup) s warm-up + \(duration) s …")
                let shape: EchoLoadShape = switch point {
                case .window(let window): .closed(window: window)
                case .rate(let perSecond): .fixedRate(perSecond: perSecond, maxInFlight: maxInFlight)
                }
                let result = try await EchoLoadClient.run(
                    queue: responder.queue, serviceId: responder.serviceId, amqp: setup.amqp,
                    plan: EchoLoadPlan(shape: shape, warmup: .seconds(warmup), duration: .seconds(duration),
                                       reliable: reliable, payloadBytes: payloadBytes, sameKey: sameKey,
                                       maxSamples: maxSamples),
                    runTag: runTag,
                    probes: BenchCPUProbes(responder: { responder.cpuTime() }, responderInProcess: false,
                                           broker: brokerProbe))
                report.add(mode: modeName, round: round, responder: kind.rawValue, load: point, result: result)
                let cpu = report.runs.last.map {
                    "resp \(BenchReport.format($0.responderCPUMicrosPerRequest, 1)), client \(BenchReport.format($0.clientCPUMicrosPerRequest, 1)), "
                        + "broker \(BenchReport.format($0.brokerCPUMicrosPerRequest, 1)) µs/req"
                } ?? ""
                progress("  \(Int(result.requestsPerSecond)) req/s, p50 \(BenchReport.format(result.latency.p50Ms, 3)) ms, "
                         + "p99 \(BenchReport.format(result.latency.p99Ms, 3)) ms, \(cpu)\(result.stalled ? " — STALLED" : "")")
                if result.stalled {
                    report.notes.append("\(modeName) round \(round) \(kind.rawValue) \(point.label) stalled: no reply for 5 s")
                    break
                }
            }
        } catch {
            report.notes.append("\(modeName) round \(round) \(kind.rawValue) failed: \(error)")
            progress("FAILED \(modeName) round \(round) \(kind.rawValue): \(error)")
        }
        let peak = responder.peakRSS()
        if let problem = await responder.stop() {
            note = [note, problem].compactMap { $0 }.joined(separator: "; ")
            report.notes.append("\(modeName) round \(round) \(kind.rawValue): \(problem)")
        }
        report.responders.append(.init(mode: modeName, round: round, responder: kind.rawValue, queue: responder.queue,
                                       peakRSSBytes: peak, note: note))
        do {
            try RabbitSession.deleteQueues(responder.leftoverQueues, configuration: setup.amqp)
        } catch {
            report.notes.append("could not delete \(responder.leftoverQueues): \(error)")
        }
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// One load point of a round: a closed loop with `window` requests in flight, or an open loop at a fixed rate.
enum BenchLoadPoint: Hashable, Sendable {
    case window(Int)
    case rate(Int)

    var label: String {
        switch self {
        case .window(let window): "W=\(window)"
        case .rate(let perSecond): "\(perSecond)/s"
        }
    }
}

/// The entry point of the `cloudbus-bench` executable (the command types stay internal to this module).
public enum BenchCommandLine {
    public static func main() async { await Bench.main() }
}
