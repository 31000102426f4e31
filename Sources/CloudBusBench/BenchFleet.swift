import ArgumentParser
import CloudBus
import CommandOptions
import Foundation
import KVMMessages
import Primitives
import Worker

/// `cloudbus-bench fleet`: 1, 2, 3… worker processes sharing one PostgreSQL store, under the real path's load —
/// `PingHostMsg` through the fake KVM agent, each good ping followed by the worker's own VM sync — with every ping
/// sent to its host's owner on the ring of the fleet's workers, as a sender with the live ring does. Per fleet size:
/// pings/s, and CPU µs per ping of each worker, of the broker (every `beam.smp`) and of PostgreSQL (every `postgres`
/// process), all read from /proc in the same window. Each size gets a schema of its own in the store.
struct BenchFleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet", abstract: "1..N workers on a shared PostgreSQL store: pings/s and CPU per ping of each part.")

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("sizes"), help: "Comma-separated fleet sizes.")
    var sizes: String = "1,2,3"

    // Not `--duration`: the parent command owns that name.
    @Option(name: .customLong("seconds"), help: "Measured seconds per size and round.")
    var measured: Double = 8

    /// `--rounds` is the parent's option (see `Bench.rounds`): given after this command's name, it lands there.
    @ParentCommand var bench: Bench
    /// Rounds measured: `--rounds`, which the parent command parses (see `Bench.rounds`); 2 when not given.
    var rounds: Int { bench.rounds ?? 2 }

    @Option(help: "Pings in flight.")
    var lanes: Int = 100

    @Option(help: "Simulated hosts (10 VMs each).")
    var hosts: Int = 100

    @Option(help: "The shared store (env CLOUDBUS_STORE_URL; password in CLOUDBUS_STORE_PASSWORD).")
    var storeURL: String?

    func run() async throws {
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "error")
        let environment = ProcessInfo.processInfo.environment
        guard let base = storeURL ?? environment["CLOUDBUS_STORE_URL"] else {
            throw ValidationError("the fleet needs a shared store: --store-url or CLOUDBUS_STORE_URL")
        }
        let sizeList = sizes.split(separator: ",").compactMap { Int($0) }
        print("fleet: PingHostMsg + VM sync via a fake agent, \(hosts) hosts × 10 VMs, \(lanes) in flight, sizes \(sizes), "
              + "\(measured) s, \(rounds) rounds, load \(BenchProcStat.loadAverage)")
        struct Row { var rate: Double; var workerCPU: [Double]; var broker: Double; var store: Double }
        var results: [Int: [Row]] = [:]
        for round in 1...rounds {
            for size in sizeList.inRoundOrder(round) {
                let scratch = try BenchSetup.makeScratchDirectory("fleet")
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                let schema = "bench_" + MessageID.random().prefix(12)
                let separator = base.contains("?") ? "&" : "?"
                var storeEnvironment = ["CLOUDBUS_STORE_URL": base + separator + "schema=" + schema,
                                        "CLOUDBUS_MEMBERSHIP_HEARTBEAT_SECONDS": "1",
                                        "CLOUDBUS_MEMBERSHIP_TIMEOUT_SECONDS": "5"]
                storeEnvironment["CLOUDBUS_STORE_PASSWORD"] = environment["CLOUDBUS_STORE_PASSWORD"]
                let world = try await SoakWorld.start(hosts: hosts, vmsPerHost: 10, scratch: scratch,
                                                      amqp: configuration.amqp, durableQueues: false,
                                                      environment: storeEnvironment)
                let books = SoakBooks()
                let client = try await SoakClient.start(amqp: configuration.amqp, books: books)
                let nodes = (0..<size).map { _ in NodeUUID.random() }
                var workers: [BenchChildProcess] = []
                do {
                    for (index, node) in nodes.enumerated() {
                        workers.append(try world.launchWorker(node: node, dataDirectory: "\(scratch)/w\(index)",
                                                              logName: "worker.log"))
                    }
                    for (index, node) in nodes.enumerated() {
                        guard await client.waitUntilServing(node, within: .seconds(60)) else {
                            throw BenchError.setup("worker \(index) never answered: \(workers[index].logTail)")
                        }
                    }
                    let ring = ConsistentHashRing(nodes: nodes.map(\.rawValue))
                    let hostList = world.hosts
                    func load(_ seconds: Double) async throws {
                        try await client.closedLoop(lanes: lanes, seconds: seconds) { number in
                            let host = hostList[number % hostList.count]
                            let owner = ring.owner(of: host) ?? nodes[0].rawValue
                            return SoakRequest(id: MessageID.random(), className: PingHostMsg.className,
                                               service: "\(ServiceID.hostService).\(owner)",
                                               fields: #""hostUuid":"\#(host)","#)
                        }
                    }
                    try await load(2)  // warm-up: every host pinged and synced once
                    books.reset()
                    let workerBefore = workers.map { BenchProcStat.cpuTime(pid: $0.pid) ?? .zero }
                    let brokerBefore = BenchProcStat.cpu(ofProcessesNamed: "beam.smp")
                    let storeBefore = BenchProcStat.cpu(ofProcessesNamed: "postgres")
                    let start = ContinuousClock.now
                    try await load(measured)
                    let elapsed = start.duration(to: .now).inSeconds
                    let answered = Double(books.summary().perClass[PingHostMsg.className]?.answered ?? 0)
                    let perPing = { (cpu: Duration) in cpu.inSeconds / max(answered, 1) * 1e6 }
                    let row = Row(
                        rate: answered / elapsed,
                        workerCPU: zip(workers, workerBefore).map { perPing((BenchProcStat.cpuTime(pid: $0.pid) ?? .zero) - $1) },
                        broker: perPing(BenchProcStat.cpu(ofProcessesNamed: "beam.smp") - brokerBefore),
                        store: perPing(BenchProcStat.cpu(ofProcessesNamed: "postgres") - storeBefore))
                    results[size, default: []].append(row)
                    print(String(format: "  round %d, %d worker(s): %.0f pings/s; CPU µs per ping: workers %@ (sum %.0f), broker %.0f, PostgreSQL %.0f",
                                 round, size, row.rate, row.workerCPU.map { String(format: "%.0f", $0) }.joined(separator: " + "),
                                 row.workerCPU.reduce(0, +), row.broker, row.store))
                } catch {
                    print("  round \(round), \(size) worker(s): FAILED \(error)")
                }
                for worker in workers { await worker.stop(grace: .seconds(40)) }
                await client.close()
                await world.stop()
            }
        }
        print("medians:")
        print("| workers | pings/s | worker CPU µs per ping (sum over workers) | broker | PostgreSQL |")
        print("|---|---|---|---|---|")
        for size in sizeList {
            guard let rows = results[size], !rows.isEmpty else { continue }
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            print(String(format: "| %d | %.0f | %.0f | %.0f | %.0f |", size, median(rows.map(\.rate)),
                         median(rows.map { $0.workerCPU.reduce(0, +) }), median(rows.map(\.broker)),
                         median(rows.map(\.store))))
        }
    }
}
