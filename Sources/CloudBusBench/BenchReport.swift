import CloudBus
import Foundation
import Primitives

/// Everything one bench invocation measured, printable as tables or as one JSON document (`--json`).
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
        var windows: [Int]
        var responders: [String]
        var modes: [String]
        var payloadBytes: Int
        var prefetch: Int
        var sameKey: Bool
    }

    struct Run: Codable {
        var mode: String
        var responder: String
        var window: Int
        var requestsPerSecond: Double
        var completed: Int
        var latency: BenchLatencySummary
        var errorReplies: Int
        var unmatchedReplies: Int
        var publishFailures: Int
        var stalled: Bool
        var requestBytes: Int
        /// CPU microseconds per completed request during the measured interval.
        var responderCPUMicrosPerRequest: Double?
        var clientCPUMicrosPerRequest: Double?
        var brokerCPUMicrosPerRequest: Double?
        /// Responder CPU time / wall time over the measured interval (1.0 = one core busy).
        var responderCores: Double?
        var loadAverageAfter: String
    }

    struct Responder: Codable {
        var mode: String
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
    var responders: [Responder] = []
    var notes: [String] = []
    var targets: [Target] = []

    mutating func add(mode: String, responder: String, window: Int, result: BenchLoadResult) {
        func perRequest(_ duration: Duration?) -> Double? {
            guard let duration, result.completed > 0 else { return nil }
            return duration.inSeconds * 1e6 / Double(result.completed)
        }
        let wall = result.measuredWall.inSeconds
        runs.append(Run(
            mode: mode, responder: responder, window: window, requestsPerSecond: result.requestsPerSecond,
            completed: result.completed, latency: result.latency, errorReplies: result.errorReplies,
            unmatchedReplies: result.unmatchedReplies, publishFailures: result.publishFailures, stalled: result.stalled,
            requestBytes: result.requestBytes, responderCPUMicrosPerRequest: perRequest(result.responderCPU),
            clientCPUMicrosPerRequest: perRequest(result.clientCPU), brokerCPUMicrosPerRequest: perRequest(result.brokerCPU),
            responderCores: result.responderCPU.flatMap { wall > 0 ? $0.inSeconds / wall : nil },
            loadAverageAfter: result.loadAverageAfter))
    }


    func run(_ mode: String, _ responder: String, _ window: Int) -> Run? {
        runs.first { $0.mode == mode && $0.responder == responder && $0.window == window && !$0.stalled && $0.completed > 0 }
    }

    /// The issue's targets, judged on the transient runs (the reference targets are for transient messages;
    /// reliable runs are disk-bound and reported beside them).
    mutating func judgeTargets() {
        let mode = "transient"
        let worker100 = run(mode, "worker", 100)
        let worker1 = run(mode, "worker", 1)
        func ratio(_ a: Run?, _ b: Run?) -> Double? {
            guard let a, let b, b.requestsPerSecond > 0 else { return nil }
            return a.requestsPerSecond / b.requestsPerSecond
        }
        targets = [
            Self.target("worker/null throughput at W=100", ratio(worker100, run(mode, "null", 100)), limit: 0.85, atLeast: true),
            Self.target("worker/pika throughput at W=100", ratio(worker100, run(mode, "pika", 100)), limit: 3, atLeast: true),
            Self.target("worker p50 at W=1 (ms)", worker1?.latency.p50Ms, limit: 0.5, atLeast: false),
            Self.target("worker p99 at W=1 (ms)", worker1?.latency.p99Ms, limit: 2, atLeast: false),
            Self.target("worker peak RSS (MB)",
                        responders.filter { $0.responder == "worker" }.compactMap(\.peakRSSBytes).max()
                            .map { Double($0) / 1_048_576 },
                        limit: 100, atLeast: false),
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
        print("settings: warm-up \(settings.warmupSeconds) s + \(settings.durationSeconds) s measured per run, "
              + "payload \(settings.payloadBytes) B, prefetch \(settings.prefetch)\(settings.sameKey ? ", same key" : "")")
        for mode in settings.modes {
            print("")
            print(mode == "transient"
                  ? "== transient: delivery mode 1, non-durable queues, requests unconfirmed =="
                  : "== reliable: delivery mode 2, durable queues, requests confirmed (null confirms its replies) ==")
            print(Self.row(["W", "responder", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
                            "resp µs/req", "resp cores", "client µs/req", "broker µs/req", "errors", "load after"]))
            for window in settings.windows {
                for responder in settings.responders {
                    guard let run = runs.first(where: { $0.mode == mode && $0.responder == responder && $0.window == window })
                    else { continue }
                    let problems = run.errorReplies + run.unmatchedReplies + run.publishFailures
                    print(Self.row([
                        "\(window)", responder, Self.format(run.requestsPerSecond, 0), Self.format(run.latency.p50Ms, 3),
                        Self.format(run.latency.p90Ms, 3), Self.format(run.latency.p99Ms, 3),
                        Self.format(run.latency.p999Ms, 3), Self.format(run.latency.maxMs, 2),
                        Self.format(run.responderCPUMicrosPerRequest, 1), Self.format(run.responderCores, 2),
                        Self.format(run.clientCPUMicrosPerRequest, 1), Self.format(run.brokerCPUMicrosPerRequest, 1),
                        run.stalled ? "STALLED" : "\(problems)", run.loadAverageAfter,
                    ]))
                }
            }
            for window in settings.windows {
                guard let worker = run(mode, "worker", window) else { continue }
                var parts: [String] = []
                for baseline in ["null", "null-confirm", "pika", "worker-baseline"] {
                    guard let other = run(mode, baseline, window), other.requestsPerSecond > 0 else { continue }
                    parts.append("worker/\(baseline) throughput \(Self.format(worker.requestsPerSecond / other.requestsPerSecond, 2))"
                                 + ", p50 \(Self.format(worker.latency.p50Ms / max(other.latency.p50Ms, 1e-9), 2))"
                                 + ", p99 \(Self.format(worker.latency.p99Ms / max(other.latency.p99Ms, 1e-9), 2))")
                }
                if !parts.isEmpty { print("ratios at W=\(window): " + parts.joined(separator: "; ")) }
            }
            for record in responders where record.mode == mode {
                if let rss = record.peakRSSBytes {
                    print("peak RSS \(record.responder): \(Self.format(Double(rss) / 1_048_576, 1)) MB (VmHWM)")
                }
            }
        }
        if !targets.isEmpty {
            print("")
            print("== targets (transient runs) ==")
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
        let widths = [4, 13, 8, 8, 8, 8, 9, 8, 12, 11, 14, 14, 8, 0]
        return zip(cells, widths).map { cell, width in
            cell.count >= width ? cell + " " : cell + String(repeating: " ", count: width - cell.count)
        }.joined()
    }

    static func format(_ value: Double?, _ decimals: Int) -> String {
        guard let value else { return "-" }
        return String(format: "%.\(decimals)f", value)
    }
}
