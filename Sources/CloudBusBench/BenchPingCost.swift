import Worker
import ArgumentParser
import CloudBus
import CommandOptions
import Foundation
import KVMMessages
import Glibc
import Primitives

/// `cloudbus-bench ping-cost`: the real path's cost — `PingHostMsg` answered through the fake KVM agent on loopback
/// (async protocol: HTTP call, callback), each good ping followed by the VM sync the worker sends itself (agent
/// `/vm/vmsync`, tracer diff of 10 VMs, nothing to announce). Closed loop at each window, worker CPU per ping from
/// /proc; with `--baseline-build` another build runs the same rounds interleaved, in the same run. What issue 10 asks
/// ("what each guarantee costs, echo and ping, before and after") and the baseline of the hot-path issue's ping target.
///
/// The fake agent runs inside this process, so its CPU is read per thread: "agent CPU" is the CPU of this process's
/// NIO singleton event loops and their blocking pool (`NIO-SGLTN-*`, `SGLTN-TP-*`), where the agent's listener and
/// its callback client run and nothing else of the bench does; "bench CPU" is the whole process (agent and the AMQP
/// load client). Both are per ping; the agent is this bench build's, whichever worker build is measured.
struct BenchPingCost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping-cost", abstract: "PingHostMsg with VM sync through a fake agent: throughput and worker CPU per ping.")

    @OptionGroup var connection: ConnectionOptions

    // Not `--windows`: the parent command owns that name and would take the value.
    @Option(name: .customLong("lanes"), help: "Comma-separated windows (requests in flight).")
    var windows: String = "1,100"

    // Not `--duration`: the parent command owns that name and would take the value.
    @Option(name: .customLong("seconds"), help: "Measured seconds per window and round.")
    var measured: Double = 8

    /// `--rounds` is the parent's option (see `Bench.rounds`): given after this command's name, it lands there.
    @ParentCommand var bench: Bench
    /// Rounds measured: `--rounds`, which the parent command parses (see `Bench.rounds`); 3 when not given.
    var rounds: Int { bench.rounds ?? 3 }

    @Option(help: "Another build of cloudbus-worker, measured the same way in the same run.")
    var baselineBuild: String?

    @Flag(help: "Durable queues and persistent messages (the production default); otherwise transient.")
    var durable = false

    @Option(help: "Simulated hosts.")
    var hosts: Int = 100

    func run() async throws {
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "error")
        let windowList = windows.split(separator: ",").compactMap { Int($0) }
        let builds: [(String, String)] = [("worker", BenchProcStat.workerExecutable)]
            + (baselineBuild.map { [("worker-baseline", $0)] } ?? [])
        print("ping-cost: PingHostMsg + VM sync via a fake agent, \(hosts) hosts × 10 VMs, windows \(windows), "
              + "\(measured) s, \(rounds) rounds, \(durable ? "durable" : "transient"), load \(BenchProcStat.loadAverage)")
        var results: [String: [Int: [(rate: Double, cpu: Double, switches: Double, agent: Double, broker: Double, bench: Double, p50: Double, p99: Double)]]] = [:]
        var rss: [String: [Int]] = [:]
        for round in 1...rounds {
            for (name, executable) in builds.inRoundOrder(round) {
                let scratch = try BenchSetup.makeScratchDirectory("ping-cost")
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                let world = try await SoakWorld.start(hosts: hosts, vmsPerHost: 10, scratch: scratch,
                                                      amqp: configuration.amqp, executable: executable,
                                                      durableQueues: durable)
                let books = SoakBooks()
                let client = try await SoakClient.start(amqp: configuration.amqp, books: books)
                do {
                    try await world.startWorker(generation: 1)
                    guard await client.waitUntilServing(world.node, within: .seconds(60)) else {
                        throw BenchError.setup("\(name) never answered: \(world.workerLogTail)")
                    }
                    // Warm-up: every host pinged (and synced) once.
                    try await closedLoop(world, client, window: 50, seconds: 2)
                    for window in windowList {
                        books.reset()
                        let before = world.workerCPU ?? .zero
                        let switchesBefore = world.workerContextSwitches ?? 0
                        let agentBefore = Self.agentThreadsCPU()
                        let brokerBefore = BenchProcStat.cpu(ofProcessesNamed: "beam.smp")
                        let benchBefore = BenchProcStat.ownCPUTime()
                        let start = ContinuousClock.now
                        try await closedLoop(world, client, window: window, seconds: measured)
                        let elapsed = start.duration(to: .now).inSeconds
                        let cpu = ((world.workerCPU ?? .zero) - before).inSeconds
                        let switches = Double((world.workerContextSwitches ?? 0) - switchesBefore)
                        let agentCPU = (Self.agentThreadsCPU() - agentBefore).inSeconds
                        let brokerCPU = (BenchProcStat.cpu(ofProcessesNamed: "beam.smp") - brokerBefore).inSeconds
                        let benchCPU = (BenchProcStat.ownCPUTime() - benchBefore).inSeconds
                        let summary = books.summary().perClass[PingHostMsg.className]
                        let answered = Double(summary?.answered ?? 0)
                        let row = (rate: answered / elapsed, cpu: cpu / max(answered, 1) * 1e6,
                                   switches: switches / max(answered, 1),
                                   agent: agentCPU / max(answered, 1) * 1e6, broker: brokerCPU / max(answered, 1) * 1e6,
                                   bench: benchCPU / max(answered, 1) * 1e6,
                                   p50: summary?.p50 ?? 0, p99: summary?.p99 ?? 0)
                        results[name, default: [:]][window, default: []].append(row)
                        print(String(format: "  round %d %@ W=%d: %.0f pings/s, worker CPU %.0f µs per ping (%.1f context switches), agent CPU %.0f µs, broker CPU %.0f µs, bench CPU %.0f µs, p50 %.2f ms, p99 %.2f ms",
                                     round, name, window, row.rate, row.cpu, row.switches, row.agent, row.broker, row.bench,
                                     row.p50, row.p99))
                    }
                    if let peak = world.workerPeakRSS { rss[name, default: []].append(peak) }
                } catch {
                    print("  round \(round) \(name): FAILED \(error)")
                }
                await client.close()
                await world.stop()
            }
        }
        print("medians:")
        for (name, _) in builds {
            for window in windowList {
                let rows = results[name]?[window] ?? []
                guard !rows.isEmpty else { continue }
                func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
                print(String(format: "  %@ W=%d: %.0f pings/s, worker CPU %.0f µs per ping (%.1f context switches), agent CPU %.0f µs, broker CPU %.0f µs, bench CPU %.0f µs, p50 %.2f ms, p99 %.2f ms",
                             name, window, median(rows.map(\.rate)), median(rows.map(\.cpu)), median(rows.map(\.switches)),
                             median(rows.map(\.agent)), median(rows.map(\.broker)),
                             median(rows.map(\.bench)), median(rows.map(\.p50)), median(rows.map(\.p99))))
            }
            if let peaks = rss[name], !peaks.isEmpty {
                print(String(format: "  %@ peak RSS %.1f MB", name, Double(peaks.sorted()[peaks.count / 2]) / 1_048_576))
            }
        }
    }

    /// User + system CPU of this process's NIO singleton threads (event loops and blocking pool), where the fake
    /// agent runs, from /proc/self/task/*/stat (clock ticks).
    static func agentThreadsCPU() -> Duration {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        guard ticks > 0 else { return .zero }
        var total = 0
        for task in tasks {
            guard let text = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                  let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")")
            else { continue }
            let name = text[text.index(after: open)..<close]
            guard name.hasPrefix("NIO-SGLTN") || name.hasPrefix("SGLTN-TP") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
            total += user + system
        }
        return .nanoseconds(total * (1_000_000_000 / ticks))
    }

    /// `window` pings in flight for `seconds`, walking through the hosts.
    private func closedLoop(_ world: SoakWorld, _ client: SoakClient, window: Int, seconds: Double) async throws {
        let service = ServiceID(service: ServiceID.hostService, node: world.node).rawValue
        let hosts = world.hosts
        try await client.closedLoop(lanes: window, seconds: seconds) { number in
            SoakRequest(id: MessageID.random(), className: PingHostMsg.className, service: service,
                        fields: #""hostUuid":"\#(hosts[number % hosts.count])","#)
        }
    }
}
