@testable import CloudBusBench
import Testing

/// The echo bench judges issue 15's targets on the transient medians, latency as ratios to the null-confirm's.
@Suite("Echo bench: the issue's targets")
struct BenchTargetsTests {
    private func median(_ load: String, _ responder: String, rps: Double, p50: Double, p99: Double,
                        cpu: Double) -> BenchReport.Median {
        BenchReport.Median(mode: "transient", load: load, responder: responder, rounds: 3, requestsPerSecond: rps,
                           requestsPerSecondByRound: [rps], p50Ms: p50, p99Ms: p99, responderCPUMicrosPerRequest: cpu,
                           clientCPUMicrosPerRequest: 10, brokerCPUMicrosPerRequest: 100,
                           totalCPUMicrosPerRequest: cpu + 110, problems: 0, stalledRounds: 0)
    }

    private func report(worker1: (p50: Double, p99: Double), worker100: (rps: Double, cpu: Double),
                        rssMB: Int) -> BenchReport {
        var report = BenchReport(
            machine: .init(processors: 2, cpuModel: "test", loadAverageAtStart: "0", loadAverageAtEnd: "0", broker: "test"),
            settings: .init(warmupSeconds: 1, durationSeconds: 1, rounds: 3, loads: ["W=1", "W=100"],
                            responders: ["worker", "null-confirm", "pika"], modes: ["transient"], payloadBytes: 200,
                            prefetch: 256, sameKey: false, maxInFlight: 1000))
        report.medians = [
            median("W=1", "worker", rps: 2000, p50: worker1.p50, p99: worker1.p99, cpu: 190),
            median("W=1", "null-confirm", rps: 3000, p50: 0.3, p99: 0.5, cpu: 40),
            median("W=100", "worker", rps: worker100.rps, p50: 10, p99: 20, cpu: worker100.cpu),
            median("W=100", "null-confirm", rps: 15_000, p50: 6, p99: 10, cpu: 16),
            median("W=100", "pika", rps: 5_000, p50: 17, p99: 32, cpu: 120),
        ]
        report.responders = [.init(mode: "transient", round: 1, responder: "worker", queue: "q",
                                   peakRSSBytes: rssMB * 1_048_576, note: nil)]
        report.judgeTargets()
        return report
    }

    @Test("every target judged, each on its own figure: CPU, throughput ratios, latency ratios, peak RSS")
    func targetsAreTheIssues() throws {
        let missing = report(worker1: (p50: 0.4, p99: 1.2), worker100: (rps: 8_000, cpu: 93), rssMB: 70)
        #expect(missing.targets.map(\.name) == [
            "worker CPU per request at W=100 (µs)", "worker/null-confirm throughput at W=100",
            "worker/pika throughput at W=100", "worker/null-confirm p50 at W=1", "worker/null-confirm p99 at W=1",
            "worker peak RSS (MB)",
        ])
        // 93 µs > 40; 8,000/15,000 < 0.9; 8,000/5,000 < 3; 0.4/0.3 > 1.15; 1.2/0.5 > 2; 70 MB > 50.
        #expect(missing.targets.map(\.met) == [false, false, false, false, false, false])
        let p50 = try #require(missing.targets.first { $0.name.hasSuffix("p50 at W=1") }?.measured)
        #expect(abs(p50 - 0.4 / 0.3) < 1e-9)

        let met = report(worker1: (p50: 0.33, p99: 0.9), worker100: (rps: 15_000, cpu: 38), rssMB: 48)
        // 38 ≤ 40; 1.0 ≥ 0.9; 3.0 ≥ 3; 1.1 ≤ 1.15; 1.8 ≤ 2; 48 ≤ 50.
        #expect(met.targets.map(\.met) == [true, true, true, true, true, true])
    }
}
