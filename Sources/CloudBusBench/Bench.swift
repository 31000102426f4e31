import AMQP
import ArgumentParser
import CloudBus
import CloudBusAMQP
import CommandOptions
import Foundation
import Logging
import Worker

/// `cloudbus-bench`: RPC round trips through `P2P` with ZStack envelopes against the worker, a raw
/// rabbitmq-c null responder (the broker limit) and the reference pika peer — same load, same run, one after the
/// other — so the worker's figures are read as ratios, which survive a noisy shared machine better than absolutes.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudbus-bench",
        abstract: "Measure EchoMsg round trips against the worker, a rabbitmq-c null responder and the pika peer.",
        discussion: """
            Each run keeps W requests in flight (closed loop) for a warm-up, then measures for --duration seconds: \
            requests/s and latency percentiles from every request. Responders run one after the other; the worker \
            is a child process (`cloudbus-worker run`, the binary beside this one, or CLOUDBUS_WORKER_BINARY), the \
            null responder a thread in this process, the pika peer a python3 child. Defaults finish in under 3 \
            minutes. The broker must be reachable (CLOUDBUS_AMQP_URL, CLOUDBUS_AMQP_PASSWORD); P2P/BROADCAST/NO_ROUTE \
            are declared as ZStack declares them.
            Subcommands measure one domain part each, in this process, with its own baseline: skip-registry, \
            vm-sync, zbs; simulate-agent runs a KVM host-agent simulator for the demo.
            """,
        subcommands: [BenchSkipRegistry.self, BenchVmSync.self, BenchZBS.self, BenchFlood.self, BenchHungKey.self, BenchSoak.self, BenchPingCost.self, BenchFleetModel.self, BenchFleet.self, BenchQueueTypes.self, SimulateAgent.self])

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

    @Option(help: "Comma-separated windows: requests kept in flight.")
    var windows: String = "1,100"

    @Option(help: "Comma-separated responders: worker, null, pika, and null-confirm (null that confirms its replies in every mode, as the worker does), worker-baseline (needs --baseline-worker).")
    var responders: String = "worker,null,pika"

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
        guard (try? parsedWindows()) != nil else { throw ValidationError("--windows: comma-separated numbers 1...65535") }
        guard (try? parsedResponders()) != nil else {
            throw ValidationError("--responders: worker, null, pika, null-confirm, worker-baseline")
        }
        guard prefetch > 0 else { throw ValidationError("--prefetch must be > 0") }
        if (try? parsedResponders())?.contains(.workerBaseline) == true, baselineWorker == nil {
            throw ValidationError("--responders worker-baseline needs --baseline-worker PATH")
        }
        guard payloadBytes >= 0, maxSamples > 0 else { throw ValidationError("--payload-bytes and --max-samples must be positive") }
    }

    private func parsedWindows() throws -> [Int] {
        let values = windows.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0.map { (1...65535).contains($0) } ?? false }) else {
            throw ValidationError("bad windows")
        }
        return values.compactMap { $0 }
    }

    private func parsedResponders() throws -> [BenchResponderKind] {
        let values = responders.split(separator: ",").map { BenchResponderKind(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("bad responders") }
        return values.compactMap { $0 }
    }

    func run() async throws {
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "warning")
        let windowList = try parsedWindows()
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
            settings: .init(warmupSeconds: warmup, durationSeconds: duration, windows: windowList,
                            responders: kinds.map(\.rawValue), modes: modes.map { $0 ? "reliable" : "transient" },
                            payloadBytes: payloadBytes, prefetch: Int(prefetch), sameKey: sameKey))
        var pikaUnavailable: String?
        if kinds.contains(.pika), let reason = BenchPikaResponder.unavailableReason(setup: setup) {
            pikaUnavailable = reason
            report.notes.append("pika runs skipped: \(reason)")
            progress("SKIPPING the pika peer: \(reason)")
        }

        let declaring = AMQPConnection(configuration: configuration.amqp, prefetch: 1, logger: Logger(label: "bench"))
        try await declaring.start()
        try await declaring.declare(Topology(exchanges: BusTopology.exchanges))
        await declaring.close()
        progress("bench: \(configuration.amqp.redactedURL), scratch \(scratch), load average \(BenchProcStat.loadAverage)")

        var brokerProbe: (@Sendable () -> Duration?)?
        if let brokerPid { brokerProbe = { BenchProcStat.cpuTime(pid: brokerPid) } }
        var runTag: UInt16 = UInt16.random(in: 0...0x7FFF)
        for reliable in modes {
            let modeName = reliable ? "reliable" : "transient"
            for kind in kinds {
                if kind == .pika, pikaUnavailable != nil { continue }
                let responder: any BenchResponder = switch kind {
                case .worker: BenchWorkerResponder(setup: setup, reliable: reliable)
                case .workerBaseline: BenchWorkerResponder(setup: setup, reliable: reliable, baseline: baselineWorker)
                case .null: BenchNullResponder(setup: setup, reliable: reliable)
                case .nullConfirm: BenchNullResponder(setup: setup, reliable: reliable, confirmAlways: true)
                case .pika: BenchPikaResponder(setup: setup)
                }
                var note: String?
                do {
                    try await responder.start()
                    let ready = try await BenchReadiness.waitUntilAnswering(responder, amqp: configuration.amqp)
                    if !ready.success { note = "readiness reply was an error: \(String(decoding: ready.raw, as: UTF8.self))" }
                    for window in windowList {
                        runTag &+= 1
                        progress("\(modeName) \(kind.rawValue) W=\(window): \(warmup) s warm-up + \(duration) s …")
                        let result = try await BenchLoad.run(
                            queue: responder.queue, serviceId: responder.serviceId, amqp: configuration.amqp,
                            settings: BenchLoadSettings(window: window, warmup: .seconds(warmup), duration: .seconds(duration),
                                                        reliable: reliable, payloadBytes: payloadBytes, sameKey: sameKey,
                                                        maxSamples: maxSamples),
                            runTag: runTag,
                            probes: BenchCPUProbes(responder: { responder.cpuTime() }, responderInProcess: responder.inProcess,
                                                   broker: brokerProbe))
                        report.add(mode: modeName, responder: kind.rawValue, window: window, result: result)
                        progress("  \(Int(result.requestsPerSecond)) req/s, p50 \(BenchReport.format(result.latency.p50Ms, 3)) ms, "
                                 + "p99 \(BenchReport.format(result.latency.p99Ms, 3)) ms\(result.stalled ? " — STALLED" : "")")
                        if result.stalled {
                            report.notes.append("\(modeName) \(kind.rawValue) W=\(window) stalled: no reply for 5 s")
                            break
                        }
                    }
                } catch {
                    report.notes.append("\(modeName) \(kind.rawValue) failed: \(error)")
                    progress("FAILED \(modeName) \(kind.rawValue): \(error)")
                }
                let peak = responder.peakRSS()
                if let problem = await responder.stop() {
                    note = [note, problem].compactMap { $0 }.joined(separator: "; ")
                    report.notes.append("\(modeName) \(kind.rawValue): \(problem)")
                }
                report.responders.append(.init(mode: modeName, responder: kind.rawValue, queue: responder.queue,
                                               peakRSSBytes: peak, note: note))
                do {
                    try NullResponder.deleteQueues(responder.leftoverQueues, configuration: configuration.amqp)
                } catch {
                    report.notes.append("could not delete \(responder.leftoverQueues): \(error)")
                }
            }
        }
        report.machine.loadAverageAtEnd = BenchProcStat.loadAverage
        report.judgeTargets()
        if json { try report.printJSON() } else { report.printTables() }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// The entry point of the `cloudbus-bench` executable (the command types stay internal to this module).
public enum BenchCommandLine {
    public static func main() async { await Bench.main() }
}
