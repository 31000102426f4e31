import CloudBus
import Foundation
import Primitives

/// Everything one echo bench invocation measured, printable as tables or as one JSON document (`--json`): every
/// run of every round, and per mode × load point × responder the medians over rounds, which the ratios and the
/// targets are judged on.
struct BenchReport: Codable {
    struct Machine: Codable {
        var processors: Int
        var cpuModel: String
        var loadAverageAtStart: String
        var loadAverageAtEnd: String
        var broker: String
    }

    struct Settings: Codable {
        var warmupSeconds: Double
        var durationSeconds: Double
        var rounds: Int
        /// Load point labels in run order: `W=<window>` (closed loop), `<rate>/s` (fixed rate).
        var loads: [String]
        var responders: [String]
        var modes: [String]
        var payloadBytes: Int
        var prefetch: Int
        var sameKey: Bool
        var maxInFlight: Int
    }

    struct Run: Codable {
        var mode: String
        var round: Int
        var responder: String
        var load: String
        var window: Int?
        var offeredPerSecond: Double?
        var requestsPerSecond: Double
        var completed: Int
        var latency: BenchLatencySummary
        var errorReplies: Int
        var unmatchedReplies: Int
        var publishFailures: Int
        var unsent: Int
        var unanswered: Int
        var stalled: Bool
        var requestBytes: Int
        /// CPU microseconds per completed request during the measured interval.
        var responderCPUMicrosPerRequest: Double?
        var clientCPUMicrosPerRequest: Double?
        var brokerCPUMicrosPerRequest: Double?
        /// Responder CPU time / wall time over the measured interval (1.0 = one core busy).
        var responderCores: Double?
        var loadAverageAfter: String

        var problems: Int { errorReplies + unmatchedReplies + publishFailures + unsent + unanswered }
        /// Responder + client + broker, when all three were measured.
        var totalCPUMicrosPerRequest: Double? {
            guard let r = responderCPUMicrosPerRequest, let c = clientCPUMicrosPerRequest,
                  let b = brokerCPUMicrosPerRequest else { return nil }
            return r + c + b
        }
    }

    /// Medians over the rounds of one mode × load point × responder (stalled and empty runs left out).
    struct Median: Codable {
        var mode: String
        var load: String
        var responder: String
        var rounds: Int
        var requestsPerSecond: Double?
        var requestsPerSecondByRound: [Double]
        var p50Ms: Double?
        var p99Ms: Double?
        var responderCPUMicrosPerRequest: Double?
        var clientCPUMicrosPerRequest: Double?
        var brokerCPUMicrosPerRequest: Double?
        var totalCPUMicrosPerRequest: Double?
        /// Summed over every round, stalled ones included.
        var problems: Int
        var stalledRounds: Int
    }

    /// The worker's medians divided by a baseline's, at one load point.
    struct Ratio: Codable {
        var mode: String
        var load: String
        var baseline: String
        var throughput: Double?
        var p50: Double?
        var p99: Double?
        var responderCPU: Double?
        var totalCPU: Double?
    }

    struct Responder: Codable {
        var mode: String
        var round: Int
        var responder: String
        var queue: String
        var peakRSSBytes: Int?
        var note: String?
    }

    struct Target: Codable {
        var name: String
        var measured: Double?
        var limit: Double
        var atLeast: Bool
        var met: Bool?
        var detail: String
    }

    var machine: Machine
    var settings: Settings
    var runs: [Run] = []
    var medians: [Median] = []
    var ratios: [Ratio] = []
    var responders: [Responder] = []
    var notes: [String] = []
    var targets: [Target] = []

    /// The baselines the worker is divided by, primary first.
    static let baselines = ["null-confirm", "pika", "null", "worker-baseline"]

    mutating func add(mode: String, round: Int, responder: String, load: BenchLoadPoint, result: BenchLoadResult) {
        func perRequest(_ duration: Duration?) -> Double? {
            guard let duration, result.completed > 0 else { return nil }
            return duration.inSeconds * 1e6 / Double(result.completed)
        }
        let wall = result.measuredWall.inSeconds
        var window: Int?
        if case .window(let value) = load { window = value }
        runs.append(Run(
            mode: mode, round: round, responder: responder, load: load.label, window: window,
            offeredPerSecond: result.offeredPerSecond, requestsPerSecond: result.requestsPerSecond,
            completed: result.completed, latency: result.latency, errorReplies: result.errorReplies,
            unmatchedReplies: result.unmatchedReplies, publishFailures: result.publishFailures, unsent: result.unsent,
            unanswered: result.unanswered, stalled: result.stalled, requestBytes: result.requestBytes,
            responderCPUMicrosPerRequest: perRequest(result.responderCPU),
            clientCPUMicrosPerRequest: perRequest(result.clientCPU), brokerCPUMicrosPerRequest: perRequest(result.brokerCPU),
            responderCores: result.responderCPU.flatMap { wall > 0 ? $0.inSeconds / wall : nil },
            loadAverageAfter: result.loadAverageAfter))
    }

    /// Fills `medians`, `ratios` and `targets` from `runs`.
    mutating func summarise() {
        medians = []
        for mode in settings.modes {
            for load in settings.loads {
                for responder in settings.responders {
                    let all = runs.filter { $0.mode == mode && $0.load == load && $0.responder == responder }
                    guard !all.isEmpty else { continue }
                    let valid = all.filter { !$0.stalled && $0.completed > 0 }
                    func median(_ value: (Run) -> Double?) -> Double? { BenchStatistics.median(valid.compactMap(value)) }
                    medians.append(Median(
                        mode: mode, load: load, responder: responder, rounds: valid.count,
                        requestsPerSecond: median(\.requestsPerSecond),
                        requestsPerSecondByRound: all.sorted { $0.round < $1.round }.map(\.requestsPerSecond),
                        p50Ms: median(\.latency.p50Ms), p99Ms: median(\.latency.p99Ms),
                        responderCPUMicrosPerRequest: median(\.responderCPUMicrosPerRequest),
                        clientCPUMicrosPerRequest: median(\.clientCPUMicrosPerRequest),
                        brokerCPUMicrosPerRequest: median(\.brokerCPUMicrosPerRequest),
                        totalCPUMicrosPerRequest: median(\.totalCPUMicrosPerRequest),
                        problems: all.reduce(0) { $0 + $1.problems }, stalledRounds: all.count - valid.count))
                }
            }
        }
        ratios = []
        for mode in settings.modes {
            for load in settings.loads {
                guard let worker = median(mode, load, "worker") else { continue }
                for baseline in Self.baselines {
                    guard let other = median(mode, load, baseline) else { continue }
                    ratios.append(Ratio(
                        mode: mode, load: load, baseline: baseline,
                        throughput: BenchStatistics.ratio(worker.requestsPerSecond, other.requestsPerSecond),
                        p50: BenchStatistics.ratio(worker.p50Ms, other.p50Ms),
                        p99: BenchStatistics.ratio(worker.p99Ms, other.p99Ms),
                        responderCPU: BenchStatistics.ratio(worker.responderCPUMicrosPerRequest, other.responderCPUMicrosPerRequest),
                        totalCPU: BenchStatistics.ratio(worker.totalCPUMicrosPerRequest, other.totalCPUMicrosPerRequest)))
                }
            }
        }
        judgeTargets()
    }

    func median(_ mode: String, _ load: String, _ responder: String) -> Median? {
        medians.first { $0.mode == mode && $0.load == load && $0.responder == responder && $0.rounds > 0 }
    }

    /// The worker's largest VmHWM over the rounds of `mode` (or of all modes).
    func workerPeakRSS(mode: String? = nil) -> Int? {
        responders.filter { $0.responder == "worker" && (mode == nil || $0.mode == mode) }.compactMap(\.peakRSSBytes).max()
    }

    /// Issue 15's targets, judged on the transient medians (reliable runs are disk-bound and reported beside them).
    /// The null baseline is `null-confirm`, which gives the worker's guarantee, or `null` when it was not run; the
    /// latency targets are ratios to that baseline's own p50 and p99 in the same run, as the issue states them.
    mutating func judgeTargets() {
        let mode = "transient"
        let worker100 = median(mode, "W=100", "worker")
        let worker1 = median(mode, "W=1", "worker")
        let nullName = median(mode, "W=100", "null-confirm") != nil ? "null-confirm" : "null"
        let null1 = median(mode, "W=1", nullName)
        targets = [
            Self.target("worker CPU per request at W=100 (µs)", worker100?.responderCPUMicrosPerRequest, limit: 40,
                        atLeast: false),
            Self.target("worker/\(nullName) throughput at W=100",
                        BenchStatistics.ratio(worker100?.requestsPerSecond, median(mode, "W=100", nullName)?.requestsPerSecond),
                        limit: 0.9, atLeast: true),
            Self.target("worker/pika throughput at W=100",
                        BenchStatistics.ratio(worker100?.requestsPerSecond, median(mode, "W=100", "pika")?.requestsPerSecond),
                        limit: 3, atLeast: true),
            Self.target("worker/\(nullName) p50 at W=1", BenchStatistics.ratio(worker1?.p50Ms, null1?.p50Ms),
                        limit: 1.15, atLeast: false),
            Self.target("worker/\(nullName) p99 at W=1", BenchStatistics.ratio(worker1?.p99Ms, null1?.p99Ms),
                        limit: 2, atLeast: false),
            Self.target("worker peak RSS (MB)", workerPeakRSS().map { Double($0) / 1_048_576 }, limit: 50, atLeast: false),
        ]
    }

    private static func target(_ name: String, _ measured: Double?, limit: Double, atLeast: Bool) -> Target {
        guard let measured else {
            return Target(name: name, measured: nil, limit: limit, atLeast: atLeast, met: nil, detail: "not measured")
        }
        let met = atLeast ? measured >= limit : measured <= limit
        let margin = abs(measured - limit) / limit * 100
        let relation = atLeast ? "≥" : "≤"
        let verdict = met ? "met with \(format(margin, 0))% to spare" : "MISSED by \(format(margin, 0))%"
        return Target(name: name, measured: measured, limit: limit, atLeast: atLeast, met: met,
                      detail: "\(format(measured, 3)) (target \(relation) \(format(limit, 2))): \(verdict)")
    }

    // MARK: Printing

    func printTables() {
        print("machine: \(machine.processors) CPUs, \(machine.cpuModel); broker \(machine.broker)")
        print("load average: \(machine.loadAverageAtStart) at start, \(machine.loadAverageAtEnd) at end")
        print("settings: \(settings.rounds) rounds, responders interleaved (\(settings.responders.joined(separator: ", "))); "
              + "warm-up \(settings.warmupSeconds) s + \(settings.durationSeconds) s measured per run, "
              + "payload \(settings.payloadBytes) B, prefetch \(settings.prefetch)\(settings.sameKey ? ", same key" : ""); "
              + "fixed-rate in-flight cap \(settings.maxInFlight)")
        for mode in settings.modes {
            print("")
            print(mode == "transient"
                  ? "== transient: delivery mode 1, non-durable queues, requests unconfirmed =="
                  : "== reliable: delivery mode 2, durable queues, requests confirmed (null confirms its replies) ==")
            print("medians over rounds; CPU in µs per request (total = responder + client + broker)")
            print(Self.row(["load", "responder", "req/s", "p50 ms", "p99 ms", "resp µs", "client µs", "broker µs",
                            "total µs", "problems", "req/s by round"]))
            for load in settings.loads {
                for responder in settings.responders {
                    guard let m = medians.first(where: { $0.mode == mode && $0.load == load && $0.responder == responder })
                    else { continue }
                    let problems = m.stalledRounds > 0 ? "\(m.problems), \(m.stalledRounds) STALLED" : "\(m.problems)"
                    print(Self.row([
                        load, responder, Self.format(m.requestsPerSecond, 0), Self.format(m.p50Ms, 3),
                        Self.format(m.p99Ms, 3), Self.format(m.responderCPUMicrosPerRequest, 1),
                        Self.format(m.clientCPUMicrosPerRequest, 1), Self.format(m.brokerCPUMicrosPerRequest, 1),
                        Self.format(m.totalCPUMicrosPerRequest, 1), problems,
                        m.requestsPerSecondByRound.map { Self.format($0, 0) }.joined(separator: " "),
                    ]))
                }
            }
            let modeRatios = ratios.filter { $0.mode == mode }
            if !modeRatios.isEmpty {
                print("ratios worker/baseline (of medians): throughput, p50, p99, responder CPU/req, total CPU/req")
                for ratio in modeRatios {
                    print("  \(ratio.load) worker/\(ratio.baseline): throughput \(Self.format(ratio.throughput, 2)), "
                          + "p50 \(Self.format(ratio.p50, 2)), p99 \(Self.format(ratio.p99, 2)), "
                          + "resp CPU \(Self.format(ratio.responderCPU, 2)), total CPU \(Self.format(ratio.totalCPU, 2))")
                }
            }
            for responder in settings.responders {
                let peaks = responders.filter { $0.mode == mode && $0.responder == responder }.compactMap(\.peakRSSBytes)
                guard let peak = peaks.max() else { continue }
                print("peak RSS \(responder): \(Self.format(Double(peak) / 1_048_576, 1)) MB (largest VmHWM of \(peaks.count) rounds)")
            }
        }
        if !targets.isEmpty {
            print("")
            print("== targets (transient medians) ==")
            for target in targets {
                let mark = target.met.map { $0 ? "met   " : "MISSED" } ?? "n/a   "
                print("\(mark) \(target.name): \(target.detail)")
            }
        }
        if !notes.isEmpty {
            print("")
            for note in notes { print("note: \(note)") }
        }
    }

    func printJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(self), as: UTF8.self))
    }

    private static func row(_ cells: [String]) -> String {
        let widths = [8, 13, 8, 8, 8, 9, 10, 10, 9, 10, 0]
        return zip(cells, widths).map { cell, width in
            cell.count >= width ? cell + " " : cell + String(repeating: " ", count: width - cell.count)
        }.joined()
    }

    static func format(_ value: Double?, _ decimals: Int) -> String {
        guard let value else { return "-" }
        return String(format: "%.\(decimals)f", value)
    }
}

/// The arithmetic the report is built on, kept apart so it is tested on its own.
enum BenchStatistics {
    /// The median: the middle value, or the mean of the two middle values of an even count; nil when empty.
    /// NaN values are ignored.
    static func median(_ values: [Double]) -> Double? {
        let sorted = values.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else { return nil }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// a / b, nil when either is missing or b is not positive.
    static func ratio(_ a: Double?, _ b: Double?) -> Double? {
        guard let a, let b, b > 0 else { return nil }
        return a / b
    }
}
