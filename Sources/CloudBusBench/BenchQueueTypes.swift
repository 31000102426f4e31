import Worker
@_spi(RawSession) import AMQP
import ArgumentParser
import CloudBus
import CloudBusAMQP
import CommandOptions
import Foundation
import KVMMessages
import Logging
import Primitives

/// `cloudbus-bench queue-types`: what replication costs (issue 11). Echo round trips (reliable: persistent requests,
/// durable queues, confirms) and pings through the fake KVM agent, with the worker's queues classic or quorum, on the
/// single broker and on the three-node cluster, in one run, round by round (the four combinations interleaved, their
/// order rotated each round). Per run: requests/s, p50/p99, worker CPU per request and broker CPU per request (every
/// `beam.smp` of the target, found by its `RABBITMQ_NODENAME`), all read in the same window.
///
/// All workers of one virtual host must agree on the queue type (the shared dead-letter queue is declared with it,
/// and RabbitMQ refuses a redeclare with another type), so each combination runs in a virtual host of its own,
/// `<prefix>classic` and `<prefix>quorum`, created when missing; the worker's queues are deleted after each run.
struct BenchQueueTypes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue-types",
        abstract: "Echo and ping with classic vs quorum queues, one node vs the three-node cluster, broker CPU per message.",
        discussion: """
            The parent command's options apply (they are parsed by it): --windows (echo windows, default 1,100), \
            --duration (measured seconds per run, default 5 here), --warmup (default 1 here), --json, \
            --payload-bytes, --prefetch, --max-samples, --amqp-url (the single broker; env CLOUDBUS_AMQP_URL). \
            The cluster: --cluster-urls or CLOUDBUS_CLUSTER_URLS (scripts/broker-cluster.sh urls); client and \
            workers connect to its first node. Virtual hosts are created when missing with CLOUDBUS_BROKER_CTL \
            (scripts/broker.sh add-vhost) and CLOUDBUS_CLUSTER_CTL (scripts/broker-cluster.sh ctl 1 add_vhost …). \
            Broker CPU is read from /proc (needs the rights to read the beams' environ: run as root or as rabbitmq).
            """)

    @ParentCommand var bench: Bench

    /// Rounds measured: `--rounds`, which the parent command parses (see `Bench.rounds`); 3 when not given.
    var rounds: Int { bench.rounds ?? 3 }

    @Option(help: "Comma-separated targets: one (the single broker), three (the cluster).")
    var targets: String = "one,three"

    @Option(help: "Comma-separated queue types: classic, quorum.")
    var types: String = "classic,quorum"

    @Option(help: "Comma-separated workloads: echo (EchoMsg, no I/O in the worker), ping (PingHostMsg + VM sync via a fake agent).")
    var workloads: String = "echo,ping"

    @Option(help: "Comma-separated windows (pings in flight) of the ping workload.")
    var pingLanes: String = "100"

    @Option(help: "Simulated hosts of the ping workload (10 VMs each).")
    var hosts: Int = 100

    @Option(help: "The cluster's AMQP URLs, comma-separated (env CLOUDBUS_CLUSTER_URLS); the first is used.")
    var clusterUrls: String?

    @Option(help: "The cluster's node names, comma-separated: whose beam.smp count as its broker CPU.")
    var clusterNodes: String = "cbw1@localhost,cbw2@localhost,cbw3@localhost"

    @Option(help: "The single broker's node name (env CLOUDBUS_NODE_NAME).")
    var nodeName: String?

    @Option(help: "Seconds the target's broker CPU is sampled idle before each combination (0: not), to tell its background (other vhosts' queues, cluster chatter) from the load's cost.")
    var idleSeconds: Double = 2

    @Option(help: "Virtual hosts used: <prefix><queue type> on each target, created when missing.")
    var vhostPrefix: String = "cbw-bench-"

    @Option(help: "Control script of the single broker (env CLOUDBUS_BROKER_CTL; default scripts/broker.sh).")
    var brokerCtl: String?

    @Option(help: "Control script of the cluster (env CLOUDBUS_CLUSTER_CTL; default scripts/broker-cluster.sh).")
    var clusterCtl: String?

    // MARK: Settings

    /// The parent owns `--duration` and `--warmup` (it parses them, with its own defaults: 8 s and 2 s); this
    /// command takes them from it when given, and defaults to shorter runs otherwise.
    private var measuredSeconds: Double { Self.given("--duration") ? bench.duration : 5 }
    private var warmupSeconds: Double { Self.given("--warmup") ? bench.warmup : 1 }

    private static func given(_ name: String) -> Bool {
        CommandLine.arguments.dropFirst().contains { $0 == name || $0.hasPrefix(name + "=") }
    }

    /// The comma-separated items of `text`, each once, in order.
    private static func list(_ text: String) -> [String] {
        var seen = Set<String>()
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    private static func numbers(_ text: String) -> [Int]? {
        let values = list(text).map { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ $0.map { (1...65535).contains($0) } ?? false }) else { return nil }
        return values.compactMap { $0 }
    }

    enum TargetKind: String, Codable, CaseIterable {
        case one, three
        var label: String { self == .one ? "one node" : "three nodes" }
    }

    enum Workload: String, Codable, CaseIterable {
        case echo, ping
    }

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be >= 1") }
        guard Self.list(targets).allSatisfy({ TargetKind(rawValue: $0) != nil }), !Self.list(targets).isEmpty else {
            throw ValidationError("--targets: one, three")
        }
        guard Self.list(types).allSatisfy({ WorkerQueueOptions.Kind(rawValue: $0) != nil }), !Self.list(types).isEmpty else {
            throw ValidationError("--types: classic, quorum")
        }
        guard Self.list(workloads).allSatisfy({ Workload(rawValue: $0) != nil }), !Self.list(workloads).isEmpty else {
            throw ValidationError("--workloads: echo, ping")
        }
        guard Self.numbers(pingLanes) != nil else { throw ValidationError("--ping-lanes: comma-separated numbers 1...65535") }
        guard hosts >= 1 else { throw ValidationError("--hosts must be >= 1") }
        guard idleSeconds >= 0 else { throw ValidationError("--idle-seconds must be >= 0") }
        guard !vhostPrefix.isEmpty else { throw ValidationError("--vhost-prefix must not be empty") }
    }

    // MARK: Targets

    /// One broker (or cluster) as measured: where client and workers connect, how to add a virtual host, whose
    /// beams are its CPU.
    struct Target: Sendable {
        let kind: TargetKind
        let base: AMQPConfiguration
        let nodes: [String]
        let control: String

        func amqp(vhost: String) -> AMQPConfiguration {
            var configuration = base
            configuration.endpoints = [base.endpoints[0]]
            configuration.virtualHost = vhost
            return configuration
        }
    }

    private func resolveTargets() throws -> [Target] {
        let environment = ProcessInfo.processInfo.environment
        var result: [Target] = []
        for name in Self.list(targets) {
            switch TargetKind(rawValue: name)! {
            case .one:
                let base = try bench.connection.resolve().amqp
                let node = nodeName ?? environment["CLOUDBUS_NODE_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "cloudbus@localhost"
                result.append(Target(kind: .one, base: base, nodes: [node],
                                     control: brokerCtl ?? environment["CLOUDBUS_BROKER_CTL"] ?? Self.script("broker.sh")))
            case .three:
                let text = clusterUrls ?? environment["CLOUDBUS_CLUSTER_URLS"]
                    ?? "amqp://guest:guest@127.0.0.1:5681/%2F,amqp://guest:guest@127.0.0.1:5682/%2F,amqp://guest:guest@127.0.0.1:5683/%2F"
                let base: AMQPConfiguration
                do { base = try AMQPConfiguration(urls: Self.list(text)) } catch {
                    throw ValidationError("--cluster-urls / CLOUDBUS_CLUSTER_URLS: \(error)")
                }
                result.append(Target(kind: .three, base: base, nodes: Self.list(clusterNodes),
                                     control: clusterCtl ?? environment["CLOUDBUS_CLUSTER_CTL"] ?? Self.script("broker-cluster.sh")))
            }
        }
        return result
    }

    /// `scripts/<name>` of the working directory when it has one (a checkout), else the project's usual place.
    private static func script(_ name: String) -> String {
        let local = FileManager.default.currentDirectoryPath + "/scripts/" + name
        return FileManager.default.isExecutableFile(atPath: local) ? local : "/work/main/scripts/" + name
    }

    // MARK: Broker CPU

    /// Every `beam.smp` whose environment names `node` (RABBITMQ_NODENAME), from /proc.
    static func beamPids(node: String) -> [Int32] {
        let needle = Array("RABBITMQ_NODENAME=\(node)".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry),
                  let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == "beam.smp",
                  let handle = FileHandle(forReadingAtPath: "/proc/\(entry)/environ")
            else { return nil }
            defer { try? handle.close() }
            let environ = [UInt8](handle.readDataToEndOfFile())
            return environ.split(separator: 0).contains { Array($0) == needle } ? pid : nil
        }
    }

    /// Summed CPU time of the target's beams, or nil (with the reason) when some node has none.
    static func brokerProbe(_ target: Target) -> (probe: (@Sendable () -> Duration?)?, problem: String?) {
        var pids: [Int32] = []
        var missing: [String] = []
        for node in target.nodes {
            let found = beamPids(node: node)
            if found.isEmpty { missing.append(node) }
            pids += found
        }
        guard missing.isEmpty else {
            return (nil, "no beam.smp with RABBITMQ_NODENAME=\(missing.joined(separator: ", ")) (not running, or /proc/PID/environ unreadable)")
        }
        let all = pids
        return ({
            var total = Duration.zero
            for pid in all {
                guard let time = BenchProcStat.cpuTime(pid: pid) else { return nil }  // a beam went away
                total += time
            }
            return total
        }, nil)
    }

    // MARK: Virtual hosts

    /// Makes sure `vhost` exists on the target and the configured user may use it; declares the bus exchanges there.
    private func ensureVhost(_ target: Target, _ vhost: String, scratch: String) async throws {
        let amqp = target.amqp(vhost: vhost)
        if !Self.canLogIn(amqp) {
            progress("creating virtual host \(vhost) on \(target.kind.label) (\(target.control))")
            let commands: [[String]] = switch target.kind {
            case .one: [["add-vhost", vhost]]
            case .three: [["ctl", "1", "add_vhost", vhost],
                          ["ctl", "1", "set_permissions", "-p", vhost, amqp.user, ".*", ".*", ".*"]]
            }
            var outputs: [String] = []
            for arguments in commands {
                let (status, output) = try await Self.runControl(target.control, arguments, scratch: scratch)
                outputs.append("\(arguments.joined(separator: " ")) → \(status.map(String.init) ?? "killed"): \(output)")
            }
            let deadline = ContinuousClock.now + .seconds(15)
            while !Self.canLogIn(amqp) {
                guard ContinuousClock.now < deadline else {
                    throw BenchError.setup("virtual host \(vhost) on \(target.kind.label) unusable after "
                                           + outputs.joined(separator: "; "))
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        let declaring = AMQPConnection(configuration: amqp, prefetch: 1, logger: Logger(label: "bench.queue-types"))
        try await declaring.start()
        do {
            try await declaring.declare(Topology(exchanges: BusTopology.exchanges))
        } catch {
            await declaring.close()
            throw error
        }
        await declaring.close()
    }

    private static func canLogIn(_ amqp: AMQPConfiguration) -> Bool {
        guard let session = try? RabbitSession(configuration: amqp) else { return false }
        session.close()
        return true
    }

    /// Runs a control script (no daemon left behind) with this process's environment, bounded to 120 s.
    private static func runControl(_ script: String, _ arguments: [String], scratch: String) async throws -> (Int32?, String) {
        let log = "\(scratch)/ctl-\(UUID().uuidString.prefix(8)).log"
        let child = try BenchChildProcess(executable: script, arguments: arguments,
                                          environment: ProcessInfo.processInfo.environment, logPath: log)
        let deadline = ContinuousClock.now + .seconds(120)
        while child.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let status = await child.stop(grace: .seconds(5))
        return (status, child.logTail.replacingOccurrences(of: "\n", with: " | "))
    }

    // MARK: Results

    struct Sample: Codable {
        var round: Int
        var target: TargetKind
        var queueType: String
        var workload: Workload
        var window: Int
        var requestsPerSecond: Double
        var completed: Int
        var workerCPUMicrosPerRequest: Double?
        var brokerCPUMicrosPerRequest: Double?
        /// The broker's CPU while idle just before this combination ran (cores: CPU seconds per second).
        var brokerIdleCores: Double?
        /// `brokerCPUMicrosPerRequest` minus the idle burn's share per request (idle cores / requests per second).
        var brokerNetCPUMicrosPerRequest: Double?
        var p50Ms: Double
        var p99Ms: Double
        /// Error replies, unmatched replies, failed publishes (echo); failed answers and unanswered requests (ping).
        var problems: Int
        var stalled: Bool
        var loadAverageAfter: String
    }

    struct Median: Codable {
        var target: TargetKind
        var queueType: String
        var workload: Workload
        var window: Int
        var rounds: Int
        var requestsPerSecond: Double
        var requestsPerSecondPerRound: [Double]
        var workerCPUMicrosPerRequest: Double?
        var brokerCPUMicrosPerRequest: Double?
        var brokerIdleCores: Double?
        var brokerNetCPUMicrosPerRequest: Double?
        var p50Ms: Double
        var p99Ms: Double
        var problems: Int
    }

    struct Report: Codable {
        var command: String
        var processors: Int
        var cpuModel: String
        var loadAverageAtStart: String
        var loadAverageAtEnd: String
        var rounds: Int
        var warmupSeconds: Double
        var durationSeconds: Double
        var echoWindows: [Int]
        var pingLanes: [Int]
        var payloadBytes: Int
        var prefetch: Int
        var hosts: Int
        var idleSeconds: Double
        var targets: [String: String]
        var samples: [Sample] = []
        var medians: [Median] = []
        var notes: [String] = []
    }

    // MARK: Run

    func run() async throws {
        Logs.bootstrap(level: bench.connection.logLevel ?? "error")
        let targetList = try resolveTargets()
        let typeList = Self.list(types)
        let workloadList = Self.list(workloads).compactMap(Workload.init(rawValue:))
        let echoWindows = Self.numbers(bench.windows ?? "1,100") ?? [1, 100]
        let lanes = Self.numbers(pingLanes) ?? [100]
        let scratch = try BenchSetup.makeScratchDirectory("queue-types")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let command = CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")

        var report = Report(
            command: command, processors: BenchProcStat.processorCount, cpuModel: BenchProcStat.cpuModel,
            loadAverageAtStart: BenchProcStat.loadAverage, loadAverageAtEnd: "", rounds: rounds,
            warmupSeconds: warmupSeconds, durationSeconds: measuredSeconds, echoWindows: echoWindows, pingLanes: lanes,
            payloadBytes: bench.payloadBytes, prefetch: Int(bench.prefetch), hosts: hosts, idleSeconds: idleSeconds,
            targets: Dictionary(uniqueKeysWithValues: targetList.map {
                ($0.kind.rawValue, "\($0.amqp(vhost: "/").redactedURL) (beams: \($0.nodes.joined(separator: ", ")))")
            }))
        progress("queue-types: targets \(targetList.map(\.kind.label)), types \(typeList), workloads \(workloadList.map(\.rawValue)), "
                 + "\(rounds) rounds, \(warmupSeconds) s + \(measuredSeconds) s per run, load \(BenchProcStat.loadAverage)")

        // Virtual hosts first: a target that cannot be set up is left out, with the reason.
        var usable: [(Target, String)] = []
        for target in targetList {
            for type in typeList {
                let vhost = vhostPrefix + type
                do {
                    try await ensureVhost(target, vhost, scratch: scratch)
                    usable.append((target, type))
                } catch {
                    report.notes.append("\(target.kind.label) \(type) left out: \(error)")
                    progress("SKIPPING \(target.kind.label) \(type): \(error)")
                }
            }
        }

        var samples: [Sample] = []
        var notes = report.notes
        var runTag = UInt16.random(in: 0...0x7FFF)
        for round in 1...rounds {
            // No combination always runs first (or right after another).
            for (target, type) in usable.inRoundOrder(round) {
                let amqp = target.amqp(vhost: vhostPrefix + type)
                let (probe, problem) = Self.brokerProbe(target)
                if let problem { notes.append("round \(round) \(target.kind.label): broker CPU not measured: \(problem)") }
                var idle: Double?
                if let probe, idleSeconds > 0 {
                    let before = probe()
                    let start = ContinuousClock.now
                    try await Task.sleep(for: .seconds(idleSeconds))
                    let elapsed = start.duration(to: .now).inSeconds
                    if let before, let after = probe() { idle = (after - before).inSeconds / elapsed }
                }
                let cellStart = samples.count
                for workload in workloadList {
                    let label = "round \(round) \(target.kind.label) \(type) \(workload.rawValue)"
                    do {
                        switch workload {
                        case .echo:
                            samples += try await echo(round: round, target: target, type: type, amqp: amqp,
                                                      windows: echoWindows, broker: probe, scratch: scratch,
                                                      runTag: &runTag, notes: &notes)
                        case .ping:
                            samples += try await ping(round: round, target: target, type: type, amqp: amqp,
                                                      lanes: lanes, broker: probe, notes: &notes)
                        }
                    } catch {
                        notes.append("\(label) failed: \(error)")
                        progress("FAILED \(label): \(error)")
                    }
                }
                for index in cellStart..<samples.count {
                    samples[index].brokerIdleCores = idle
                    if let idle, let gross = samples[index].brokerCPUMicrosPerRequest, samples[index].requestsPerSecond > 0 {
                        samples[index].brokerNetCPUMicrosPerRequest = gross - idle * 1e6 / samples[index].requestsPerSecond
                    }
                }
            }
        }
        report.loadAverageAtEnd = BenchProcStat.loadAverage
        report.samples = samples
        report.notes = notes
        report.medians = Self.medians(samples, targets: targetList.map(\.kind), types: typeList,
                                      workloads: workloadList, echoWindows: echoWindows, pingLanes: lanes)
        if bench.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            Self.printTables(report)
        }
    }

    /// The worker on `type` queues in the target's vhost; echo at each window through `BenchLoad` (reliable mode).
    private func echo(round: Int, target: Target, type: String, amqp: AMQPConfiguration, windows: [Int],
                      broker: (@Sendable () -> Duration?)?, scratch: String, runTag: inout UInt16,
                      notes: inout [String]) async throws -> [Sample] {
        let setup = BenchSetup(amqp: amqp, scratchDirectory: scratch, prefetch: bench.prefetch, python: "python3",
                               pikaScript: "")
        let responder = BenchWorkerResponder(setup: setup, reliable: true, queueType: type)
        var samples: [Sample] = []
        var failure: (any Error)?
        do {
            try await responder.start()
            let ready = try await BenchReadiness.waitUntilAnswering(responder, amqp: amqp, within: .seconds(60))
            if !ready.success { notes.append("round \(round) \(target.kind.label) \(type): readiness reply was an error") }
            for window in windows {
                runTag &+= 1
                progress("round \(round) \(target.kind.label) \(type) echo W=\(window): \(warmupSeconds) s warm-up + \(measuredSeconds) s …")
                let result = try await BenchLoad.run(
                    queue: responder.queue, serviceId: responder.serviceId, amqp: amqp,
                    settings: BenchLoadSettings(window: window, warmup: .seconds(warmupSeconds),
                                                duration: .seconds(measuredSeconds), reliable: true,
                                                payloadBytes: bench.payloadBytes, sameKey: false,
                                                maxSamples: bench.maxSamples),
                    runTag: runTag,
                    probes: BenchCPUProbes(responder: { responder.cpuTime() }, responderInProcess: false, broker: broker))
                func perRequest(_ duration: Duration?) -> Double? {
                    guard let duration, result.completed > 0 else { return nil }
                    return duration.inSeconds * 1e6 / Double(result.completed)
                }
                let sample = Sample(
                    round: round, target: target.kind, queueType: type, workload: .echo, window: window,
                    requestsPerSecond: result.requestsPerSecond, completed: result.completed,
                    workerCPUMicrosPerRequest: perRequest(result.responderCPU),
                    brokerCPUMicrosPerRequest: perRequest(result.brokerCPU), brokerIdleCores: nil,
                    brokerNetCPUMicrosPerRequest: nil,
                    p50Ms: result.latency.p50Ms, p99Ms: result.latency.p99Ms,
                    problems: result.errorReplies + result.unmatchedReplies + result.publishFailures,
                    stalled: result.stalled, loadAverageAfter: result.loadAverageAfter)
                samples.append(sample)
                progress("  " + Self.describe(sample))
                if result.stalled {
                    notes.append("round \(round) \(target.kind.label) \(type) echo W=\(window) stalled: no reply for 5 s")
                    break
                }
            }
        } catch {
            failure = error
        }
        if let problem = await responder.stop() { notes.append("round \(round) \(target.kind.label) \(type) echo: \(problem)") }
        do {
            try RabbitSession.deleteQueues(responder.leftoverQueues, configuration: amqp)
        } catch {
            notes.append("could not delete \(responder.leftoverQueues) in \(amqp.virtualHost): \(error)")
        }
        if let failure { throw failure }
        return samples
    }

    /// A world (fake agent, inventory) and its worker on `type` queues; pings at each lane count, closed loop.
    private func ping(round: Int, target: Target, type: String, amqp: AMQPConfiguration, lanes: [Int],
                      broker: (@Sendable () -> Duration?)?, notes: inout [String]) async throws -> [Sample] {
        let scratch = try BenchSetup.makeScratchDirectory("queue-types-ping")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // The queue type through the environment: the world writes the worker's config file itself.
        let world = try await SoakWorld.start(hosts: hosts, vmsPerHost: 10, scratch: scratch, amqp: amqp,
                                              durableQueues: true, environment: ["CLOUDBUS_QUEUE_TYPE": type])
        let books = SoakBooks()
        let client: SoakClient
        do {
            client = try await SoakClient.start(amqp: amqp, books: books)
        } catch {
            await world.stop()
            throw error
        }
        var samples: [Sample] = []
        var failure: (any Error)?
        let service = ServiceID(service: ServiceID.hostService, node: world.node).rawValue
        let hostList = world.hosts
        func load(_ window: Int, _ seconds: Double) async throws {
            try await client.closedLoop(lanes: window, seconds: seconds) { number in
                SoakRequest(id: MessageID.random(), className: PingHostMsg.className, service: service,
                            fields: #""hostUuid":"\#(hostList[number % hostList.count])","#)
            }
        }
        do {
            try await world.startWorker(generation: 1)
            guard await client.waitUntilServing(world.node, within: .seconds(60)) else {
                throw BenchError.setup("the worker never answered: \(world.workerLogTail)")
            }
            for window in lanes {
                progress("round \(round) \(target.kind.label) \(type) ping W=\(window): \(warmupSeconds) s warm-up + \(measuredSeconds) s …")
                if warmupSeconds > 0 { try await load(window, warmupSeconds) }  // every host pinged and synced once
                books.reset()
                let workerBefore = world.workerCPU
                let brokerBefore = broker?()
                let start = ContinuousClock.now
                try await load(window, measuredSeconds)
                let elapsed = start.duration(to: .now).inSeconds
                let workerAfter = world.workerCPU
                let brokerAfter = broker?()
                let summary = books.summary()
                let pings = summary.perClass[PingHostMsg.className] ?? SoakClassSummary()
                let answered = pings.answered
                func perPing(_ before: Duration?, _ after: Duration?) -> Double? {
                    guard let before, let after, answered > 0 else { return nil }
                    return (after - before).inSeconds * 1e6 / Double(answered)
                }
                let sample = Sample(
                    round: round, target: target.kind, queueType: type, workload: .ping, window: window,
                    requestsPerSecond: Double(answered) / elapsed, completed: answered,
                    workerCPUMicrosPerRequest: perPing(workerBefore, workerAfter),
                    brokerCPUMicrosPerRequest: perPing(brokerBefore, brokerAfter), brokerIdleCores: nil,
                    brokerNetCPUMicrosPerRequest: nil,
                    p50Ms: pings.p50, p99Ms: pings.p99,
                    problems: pings.failed + max(0, pings.confirmed - pings.answered) + summary.unconfirmed,
                    stalled: answered == 0, loadAverageAfter: BenchProcStat.loadAverage)
                samples.append(sample)
                progress("  " + Self.describe(sample))
            }
        } catch {
            failure = error
        }
        await client.close()
        if let problem = await world.stop() { notes.append(problem) }
        if let failure { throw failure }
        return samples
    }

    // MARK: Figures

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    private static func medians(_ samples: [Sample], targets: [TargetKind], types: [String], workloads: [Workload],
                                echoWindows: [Int], pingLanes: [Int]) -> [Median] {
        var result: [Median] = []
        for workload in workloads {
            for window in workload == .echo ? echoWindows : pingLanes {
                for target in targets {
                    for type in types {
                        let rows = samples.filter {
                            $0.workload == workload && $0.window == window && $0.target == target && $0.queueType == type
                        }
                        guard !rows.isEmpty else { continue }
                        let worker = rows.compactMap(\.workerCPUMicrosPerRequest)
                        let broker = rows.compactMap(\.brokerCPUMicrosPerRequest)
                        let idle = rows.compactMap(\.brokerIdleCores)
                        let net = rows.compactMap(\.brokerNetCPUMicrosPerRequest)
                        result.append(Median(
                            target: target, queueType: type, workload: workload, window: window, rounds: rows.count,
                            requestsPerSecond: median(rows.map(\.requestsPerSecond)),
                            requestsPerSecondPerRound: rows.map(\.requestsPerSecond),
                            workerCPUMicrosPerRequest: worker.isEmpty ? nil : median(worker),
                            brokerCPUMicrosPerRequest: broker.isEmpty ? nil : median(broker),
                            brokerIdleCores: idle.isEmpty ? nil : median(idle),
                            brokerNetCPUMicrosPerRequest: net.isEmpty ? nil : median(net),
                            p50Ms: median(rows.map(\.p50Ms)), p99Ms: median(rows.map(\.p99Ms)),
                            problems: rows.map(\.problems).reduce(0, +) + rows.filter(\.stalled).count))
                    }
                }
            }
        }
        return result
    }

    private static func describe(_ sample: Sample) -> String {
        "\(Int(sample.requestsPerSecond)) req/s, worker \(BenchReport.format(sample.workerCPUMicrosPerRequest, 0)) µs/req, "
            + "broker \(BenchReport.format(sample.brokerCPUMicrosPerRequest, 0)) µs/req, p50 \(BenchReport.format(sample.p50Ms, 2)) ms, "
            + "p99 \(BenchReport.format(sample.p99Ms, 2)) ms\(sample.problems > 0 ? ", \(sample.problems) problems" : "")"
            + "\(sample.stalled ? " — STALLED" : "")"
    }

    private static func printTables(_ report: Report) {
        print("Command: `\(report.command)`")
        print("")
        print("Machine: \(report.processors) CPUs, \(report.cpuModel); load average \(report.loadAverageAtStart) at start, "
              + "\(report.loadAverageAtEnd) at end.")
        print("Settings: \(report.rounds) rounds (every combination once per round, order rotated), warm-up "
              + "\(report.warmupSeconds) s + \(report.durationSeconds) s measured per run; echo: reliable (persistent "
              + "requests, durable queues, confirms), payload \(report.payloadBytes) B, prefetch \(report.prefetch); "
              + "ping: PingHostMsg + VM sync via a fake agent, \(report.hosts) hosts × 10 VMs, persistent and confirmed.")
        for (kind, description) in report.targets.sorted(by: { $0.key < $1.key }) {
            print("Target \(TargetKind(rawValue: kind)?.label ?? kind): \(description)")
        }
        print("Figures are medians over the rounds; CPU is per answered request, from /proc; broker = sum over the "
              + "target's beam.smp; broker idle = its CPU (cores) in the \(report.idleSeconds) s before each combination, "
              + "with no load; net = broker µs/req minus that idle burn's share per request.")
        let ordered = report.medians.reduce(into: [(Workload, Int)]()) { list, median in
            if !list.contains(where: { $0 == (median.workload, median.window) }) { list.append((median.workload, median.window)) }
        }
        for (workload, window) in ordered {
            let rows = report.medians.filter { $0.workload == workload && $0.window == window }
            print("")
            print(workload == .echo ? "#### Echo, W=\(window) (reliable)" : "#### Ping, W=\(window) (PingHostMsg + VM sync)")
            print("")
            print("| target | queues | req/s | req/s per round | worker CPU µs/req | broker CPU µs/req | broker idle cores | broker net µs/req | p50 ms | p99 ms | problems |")
            print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
            for row in rows {
                print("| \(row.target.label) | \(row.queueType) | \(BenchReport.format(row.requestsPerSecond, 0)) | "
                      + row.requestsPerSecondPerRound.map { BenchReport.format($0, 0) }.joined(separator: ", ")
                      + " | \(BenchReport.format(row.workerCPUMicrosPerRequest, 0)) | \(BenchReport.format(row.brokerCPUMicrosPerRequest, 0)) | "
                      + "\(BenchReport.format(row.brokerIdleCores, 2)) | \(BenchReport.format(row.brokerNetCPUMicrosPerRequest, 0)) | "
                      + "\(BenchReport.format(row.p50Ms, 2)) | \(BenchReport.format(row.p99Ms, 2)) | \(row.problems) |")
            }
            func find(_ target: TargetKind, _ type: String) -> Median? { rows.first { $0.target == target && $0.queueType == type } }
            func ratio(_ a: Double?, _ b: Double?) -> String {
                guard let a, let b, b > 0 else { return "-" }
                return BenchReport.format(a / b, 2)
            }
            var lines: [String] = []
            for target in TargetKind.allCases {
                guard let classic = find(target, "classic"), let quorum = find(target, "quorum") else { continue }
                lines.append("quorum/classic on \(target.label): req/s \(ratio(quorum.requestsPerSecond, classic.requestsPerSecond)), "
                             + "broker CPU/req \(ratio(quorum.brokerCPUMicrosPerRequest, classic.brokerCPUMicrosPerRequest)) "
                             + "(net \(ratio(quorum.brokerNetCPUMicrosPerRequest, classic.brokerNetCPUMicrosPerRequest))), "
                             + "p50 \(ratio(quorum.p50Ms, classic.p50Ms))")
            }
            for type in ["classic", "quorum"] {
                guard let one = find(.one, type), let three = find(.three, type) else { continue }
                lines.append("three nodes/one node, \(type): req/s \(ratio(three.requestsPerSecond, one.requestsPerSecond)), "
                             + "broker CPU/req \(ratio(three.brokerCPUMicrosPerRequest, one.brokerCPUMicrosPerRequest)) "
                             + "(net \(ratio(three.brokerNetCPUMicrosPerRequest, one.brokerNetCPUMicrosPerRequest))), "
                             + "p50 \(ratio(three.p50Ms, one.p50Ms))")
            }
            if !lines.isEmpty {
                print("")
                for line in lines { print("- \(line)") }
            }
        }
        if !report.notes.isEmpty {
            print("")
            for note in report.notes { print("Note: \(note)") }
        }
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
