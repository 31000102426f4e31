@_spi(RawSession) import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Glibc
import Inventory
import KVMMessages
import Logging
import Primitives
import Synchronization
import Worker
import ZBSMessages

/// One request of the soak's mix, with the id it keeps through every retry.
struct SoakRequest: Sendable {
    let id: String
    let className: String
    let service: String
    let fields: String

    func body(replyTo: String) -> Data {
        Data(#"{"\#(className)":{\#(fields)"id":"\#(id)","timeout":300000,"headers":{"correlationId":"\#(id)","replyTo":"\#(replyTo)","noReply":"false"}}}"#.utf8)
    }
}

/// Everything the worker talks to, on loopback: one fake KVM agent answering for every host, three fake MDS, the
/// worker's inventory, and the worker itself as a child process (restarted with the same node and data after a kill).
final class SoakWorld: Sendable {
    let node = NodeUUID.random()
    let dataDirectory: String
    let hosts: [String]
    /// VM → its host.
    let vms: [(vm: String, host: String)]
    let agent: FakeKVMAgent
    let mds: [FakeMDSAgent]
    let storageUuid = MessageID.random()
    private let amqp: AMQPConfiguration
    private let setup: BenchSetup
    /// The worker binary: the one beside this tool, or another build to compare with.
    let executable: String
    private let durableQueues: Bool
    /// Added to every child's environment (the shared store's URL and password for a fleet).
    private let extraEnvironment: [String: String]
    private struct State {
        var worker: BenchChildProcess?
        var generation = 0
        /// VMs turned off on the agent, in order.
        var flipped: [String] = []
        var reports: [String: FakeKVMAgent.HostVMReport] = [:]
        var samples: [SoakMemorySample] = []
        var generationStarts: [Int: ContinuousClock.Instant] = [:]
        /// Every node a worker was launched for (the soak's own, fleet members): ``stop()`` deletes their queues.
        var launchedNodes: [NodeUUID] = []
    }
    private let state = Mutex(State())

    /// What every worker of the world serves.
    static let services = [ServiceID.hostService, ServiceID.vmInstanceService, ServiceID.primaryStorageService]

    private init(dataDirectory: String, hosts: [String], vms: [(vm: String, host: String)], agent: FakeKVMAgent,
                 mds: [FakeMDSAgent], amqp: AMQPConfiguration, setup: BenchSetup, executable: String,
                 durableQueues: Bool, environment: [String: String]) {
        self.extraEnvironment = environment
        self.executable = executable
        self.durableQueues = durableQueues
        self.dataDirectory = dataDirectory
        self.hosts = hosts
        self.vms = vms
        self.agent = agent
        self.mds = mds
        self.amqp = amqp
        self.setup = setup
    }

    static func start(hosts count: Int, vmsPerHost: Int, scratch: String, amqp: AMQPConfiguration,
                      executable: String = BenchProcStat.workerExecutable, durableQueues: Bool = true,
                      environment: [String: String] = [:]) async throws
        -> SoakWorld
    {
        let logger = Logger.quiet
        let agent = try await FakeKVMAgent.start(configuration: .init(maxRecordedRequests: 1_000), logger: logger)
        var mds: [FakeMDSAgent] = []
        for _ in 0..<3 { mds.append(try await FakeMDSAgent.start(configuration: .init(physicalPools: ["lp": "pp"]), logger: logger)) }
        let hosts = (0..<count).map { _ in MessageID.random() }
        let vms = hosts.flatMap { host in (0..<vmsPerHost).map { _ in (vm: MessageID.random(), host: host) } }
        let setup = BenchSetup(amqp: amqp, scratchDirectory: scratch, prefetch: 256, python: "python3", pikaScript: "")
        let world = SoakWorld(dataDirectory: URL(fileURLWithPath: scratch).appendingPathComponent("worker").path,
                              hosts: hosts, vms: vms, agent: agent, mds: mds, amqp: amqp, setup: setup,
                              executable: executable, durableQueues: durableQueues, environment: environment)
        try FileManager.default.createDirectory(atPath: world.dataDirectory, withIntermediateDirectories: true)
        try await world.importInventory()
        world.state.withLock { state in
            for host in hosts {
                let states = Dictionary(uniqueKeysWithValues: vms.filter { $0.host == host }.map { ($0.vm, "Running") })
                state.reports[host] = FakeKVMAgent.HostVMReport(states: states)
            }
        }
        for (host, report) in world.state.withLock({ $0.reports }) { agent.setVMReport(report, host: host) }
        return world
    }

    /// Seeds the worker's store through the worker build under test (`inventory import`), not through this tool's
    /// own store code: a baseline build with an older schema then opens a store it wrote itself.
    private func importInventory() async throws {
        let hostEntries = hosts.map { #"{"uuid":"\#($0)","managementIp":"127.0.0.1","agentPort":\#(agent.port),"status":"Connected"}"# }
        let vmEntries = vms.map { #"{"uuid":"\#($0.vm)","state":"Running","hostUuid":"\#($0.host)"}"# }
        let mdsEntries = mds.map { #"{"addr":"127.0.0.1","status":"Connected","agentPort":\#($0.port)}"# }
        let storage = #"{"uuid":"\#(storageUuid)","mds":[\#(mdsEntries.joined(separator: ","))],"logicalPools":[{"logicalPoolName":"lp","physicalPoolName":"pp"}]}"#
        let document = #"{"hosts":[\#(hostEntries.joined(separator: ","))],"vms":[\#(vmEntries.joined(separator: ","))],"zbsPrimaryStorages":[\#(storage)]}"#
        let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent("inventory.json").path
        try Data(document.utf8).write(to: URL(fileURLWithPath: path))
        let importer = try BenchChildProcess(
            executable: executable, arguments: ["inventory", "import", path, "--data-dir", dataDirectory],
            environment: setup.childEnvironment.merging(extraEnvironment) { $1 },
            logPath: URL(fileURLWithPath: dataDirectory).appendingPathComponent("import.log").path)
        while importer.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        guard await importer.stop() == 0 else {
            throw BenchError.setup("inventory import with \(executable) failed: \(importer.logTail)")
        }
    }

    // MARK: The worker

    /// Starts (or restarts) `cloudbus-worker run` serving host, vmInstance and storage.primary on durable queues, with
    /// short agent and MDS bounds so that a stalled agent or a refusing MDS is felt within the fault window.
    func startWorker(generation: Int) async throws {
        let process = try launchWorker(node: node, dataDirectory: dataDirectory, logName: "worker-\(generation).log")
        state.withLock {
            $0.worker = process
            $0.generation = generation
            $0.generationStarts[generation] = .now
        }
    }

    /// `cloudbus-worker run` for `node` in `dataDirectory`, serving host, vmInstance and storage.primary with short
    /// agent and MDS bounds; the caller owns the process (the soak's worker, or a fleet member).
    func launchWorker(node: NodeUUID, dataDirectory: String, logName: String) throws -> BenchChildProcess {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let directory = URL(fileURLWithPath: dataDirectory)
        let configPath = directory.appendingPathComponent("config.json").path
        let config = #"{"durableQueues": \#(durableQueues), "kvm": {"pingTimeoutSeconds": 2, "pingMaxFailure": 3, "pingSleepAfterFailureSeconds": 1, "agentConnectTimeoutSeconds": 1}, "zbs": {"mdsConnectTimeoutSeconds": 1, "mdsAttemptTimeoutSeconds": 2, "mdsFailureMemorySeconds": 5}}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: configPath))
        var environment = setup.childEnvironment.merging(extraEnvironment) { $1 }
        environment["CLOUDBUS_AMQP_PASSWORD"] = amqp.password
        environment["CLOUDBUS_ADMIN_PORT"] = "0"
        state.withLock { if !$0.launchedNodes.contains(node) { $0.launchedNodes.append(node) } }
        BenchChildProcess.evictFromPageCache(executable)
        return try BenchChildProcess(
            executable: executable,
            arguments: ["run", "--config", configPath, "--amqp-url", setup.urlWithoutPassword,
                        "--node-uuid", node.rawValue, "--data-dir", dataDirectory, "--http-host", "127.0.0.1",
                        "--http-port", "0", "--services", Self.services.joined(separator: ","), "--prefetch", "256",
                        "--log-level", "warning"],
            environment: environment, logPath: directory.appendingPathComponent(logName).path)
    }

    var workerLogTail: String { state.withLock { $0.worker }?.logTail ?? "" }
    /// CPU time of the running worker process.
    var workerCPU: Duration? { state.withLock { $0.worker }.flatMap { BenchProcStat.cpuTime(pid: $0.pid) } }
    /// Context switches of the worker's threads so far (see ``BenchProcStat/contextSwitches(pid:)``).
    var workerContextSwitches: Int? {
        state.withLock { $0.worker }.flatMap { BenchProcStat.contextSwitches(pid: $0.pid) }
    }
    var workerPeakRSS: Int? { state.withLock { $0.worker }.flatMap { BenchProcStat.peakRSS(pid: "\($0.pid)") } }
    var generations: Int { state.withLock { $0.generation } }

    /// Stops the soak's worker (fleet members are their caller's to stop first) and the fakes, and deletes the queues
    /// of every worker the world launched: durable ones outlive their worker, and an event queue left behind collects
    /// a copy of every event on the broker until each expires into the shared dead-letter queue. Returns what could
    /// not be deleted, if anything.
    @discardableResult
    func stop() async -> String? {
        if let worker = state.withLock({ $0.worker }) { await worker.stop(grace: .seconds(40)) }
        await agent.shutdown()
        for server in mds { await server.shutdown() }
        let queues = state.withLock { $0.launchedNodes }.flatMap { node in
            Self.services.map { ServiceID(service: $0, node: node).queueName } + [BusTopology.eventQueue(node: node)]
        }
        do {
            try RabbitSession.deleteQueues(queues, configuration: amqp)
            return nil
        } catch {
            return "could not delete \(queues) in \(amqp.virtualHost): \(error)"
        }
    }

    // MARK: The load

    /// The next request of the mix by sequence number: 4 in 10 pings, 2 echoes, 2 device-info syncs, 2 ZBS calls.
    /// Pings walk through every host in turn and device-info requests through every VM (a host picked by
    /// `sequence % hosts` would only ever be one whose index ends in 0–3: the first soaks never pinged 18 of 30
    /// hosts, and the VMs turned off there were never seen).
    func nextRequest(_ sequence: inout Int) -> SoakRequest {
        defer { sequence += 1 }
        let block = sequence / 10, slot = sequence % 10
        let host = hosts[(block * 4 + slot) % hosts.count]
        let hostService = ServiceID(service: ServiceID.hostService, node: node).rawValue
        switch slot {
        case 0, 1, 2, 3:
            return SoakRequest(id: MessageID.random(), className: PingHostMsg.className, service: hostService,
                               fields: #""hostUuid":"\#(host)","#)
        case 4, 5:
            return SoakRequest(id: MessageID.random(), className: EchoMsg.className, service: hostService,
                               fields: #""payload":"soak \#(sequence)","#)
        case 6, 7:
            let vm = vms[(block * 2 + slot - 6) % vms.count]
            return SoakRequest(id: MessageID.random(), className: SyncVmDeviceInfoMsg.className, service: hostService,
                               fields: #""vmInstanceUuid":"\#(vm.vm)","hostUuid":"\#(vm.host)","#)
        default:
            let storage = ServiceID(service: ServiceID.primaryStorageService, node: node).rawValue
            return SoakRequest(id: MessageID.random(), className: GetVolumeClientsMsg.className, service: storage,
                               fields: #""primaryStorageUuid":"\#(storageUuid)","installPath":"zbs://lp/vol-\#(sequence % 97)","#)
        }
    }

    // MARK: Faults

    /// Every `interval` until `end`: the next fault of the rotation (connection close, worker kill -9 and restart,
    /// agent stall, MDS refusing), and `flips` Running VMs turned off on the agent. Returns what was done, when.
    func injectFaults(every interval: Double, until end: ContinuousClock.Instant, flips: Int, brokerControl: String)
        async -> [String]
    {
        let start = ContinuousClock.now
        var log: [String] = [], index = 0
        while ContinuousClock.now + .seconds(interval) < end {
            try? await Task.sleep(for: .seconds(interval))
            let at = String(format: "%4.0f s", start.duration(to: .now).inSeconds)
            flip(flips)
            switch index % 4 {
            case 0:
                let status = Self.run("/bin/bash", [brokerControl, "close-connections", "soak fault"])
                log.append("\(at) connection close (every client connection; exit \(status))")
            case 1:
                if let worker = state.withLock({ $0.worker }) {
                    kill(worker.pid, SIGKILL)
                    await worker.stop(grace: .seconds(5))
                }
                let next = generations + 1
                do {
                    try await startWorker(generation: next)
                    log.append("\(at) worker kill -9, restarted (generation \(next))")
                } catch {
                    log.append("\(at) worker kill -9, RESTART FAILED: \(error)")
                }
            case 2:
                for path in ["/host/ping", "/vm/vmsync", "/sync/vm/deviceinfo"] { agent.setBehaviour(.hangRequest, for: path) }
                try? await Task.sleep(for: .seconds(4))
                for path in ["/host/ping", "/vm/vmsync", "/sync/vm/deviceinfo"] { agent.setBehaviour(.answer(), for: path) }
                log.append("\(at) agent stall: every agent request hung for 4 s")
            default:
                mds[0].setBehaviour(.closeConnection, for: "/volume/clients")
                try? await Task.sleep(for: .seconds(10))
                mds[0].setBehaviour(nil, for: "/volume/clients")
                log.append("\(at) MDS refusing: one of three resets every connection for 10 s")
            }
            index += 1
        }
        return log
    }

    /// Turns `count` more Running VMs off on the agent (Running → Shutdown, never back): each must be announced.
    private func flip(_ count: Int) {
        let changed = state.withLock { state -> [(String, FakeKVMAgent.HostVMReport)] in
            let candidates = vms.filter { !state.flipped.contains($0.vm) }.prefix(count)
            for candidate in candidates {
                state.flipped.append(candidate.vm)
                state.reports[candidate.host]?.states[candidate.vm] = "Shutdown"
            }
            return Set(candidates.map(\.host)).compactMap { host in state.reports[host].map { (host, $0) } }
        }
        for (host, report) in changed { agent.setVMReport(report, host: host) }
    }

    var flippedCount: Int { state.withLock { $0.flipped.count } }

    func unannouncedFlips(seen: Set<String>) -> [String] { state.withLock { $0.flipped }.filter { !seen.contains($0) } }

    private static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    // MARK: Memory

    /// The worker's RSS every 5 s, with its generation and age.
    func sampleMemory(until end: ContinuousClock.Instant) async {
        while ContinuousClock.now < end && !Task.isCancelled {
            let (worker, generation, started) = state.withLock { ($0.worker, $0.generation, $0.generationStarts[$0.generation]) }
            if let worker, let rss = BenchProcStat.currentRSS(pid: "\(worker.pid)"), let started {
                let sample = SoakMemorySample(generation: generation, age: started.duration(to: .now).inSeconds, rss: rss)
                state.withLock { $0.samples.append(sample) }
            }
            try? await Task.sleep(for: .seconds(5))
        }
    }

    func stopSampling(_ sampler: Task<Void, Never>) async -> [SoakMemorySample] {
        sampler.cancel()
        await sampler.value
        return state.withLock { $0.samples }
    }
}

struct SoakMemorySample: Sendable {
    let generation: Int
    let age: Double
    let rss: Int
}

/// Per request: class, first send, whether the broker confirmed it, first reply, replies seen.
final class SoakBooks: Sendable {
    struct Entry {
        var className: String
        var sent: ContinuousClock.Instant
        var confirmed = false
        var answered: ContinuousClock.Instant?
        var replies = 0
        var success = false
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var waiters: [String: CheckedContinuation<Void, Never>] = [:]
        var unknownReplies = 0
        var answered = 0
        var unanswered = 0
    }
    private let state = Mutex(State())

    func sent(_ request: SoakRequest) {
        state.withLock { $0.entries[request.id] = Entry(className: request.className, sent: .now) }
    }

    func confirmed(_ id: String) {
        state.withLock { state in
            guard state.entries[id]?.confirmed == false else { return }
            state.entries[id]?.confirmed = true
            if state.entries[id]?.answered == nil { state.unanswered += 1 }
        }
    }

    /// A reply for `id`. `redelivered`: the broker sent it again after this client's connection was lost, so an
    /// answered id's copy is this client's, not the worker's, duplicate.
    func replied(_ id: String, success: Bool, redelivered: Bool = false) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard var entry = state.entries[id] else {
                state.unknownReplies += 1
                return nil
            }
            if redelivered, entry.answered != nil { return nil }
            entry.replies += 1
            if entry.answered == nil {
                entry.answered = .now
                entry.success = success
                state.answered += 1
                if entry.confirmed { state.unanswered -= 1 }
            }
            state.entries[id] = entry
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.resume()
    }

    /// Returns once `id` is answered (or at once if it is).
    func answer(of id: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.entries[id]?.answered != nil { return true }
                state.waiters[id] = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    func abandon(_ id: String) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume()
    }

    var answeredCount: Int { state.withLock { $0.answered } }
    /// Confirmed by the broker and not answered yet.
    var unansweredCount: Int { state.withLock { $0.unanswered } }

    func reset() { state.withLock { $0 = State() } }

    /// Per class: confirmed, answered, failed answers, duplicate replies, latency percentiles (ms, first send → first reply).
    func summary() -> (perClass: [String: SoakClassSummary], unknownReplies: Int, unconfirmed: Int) {
        state.withLock { state in
            var perClass: [String: SoakClassSummary] = [:]
            var latencies: [String: [Double]] = [:]
            var unconfirmed = 0
            for entry in state.entries.values {
                guard entry.confirmed else { unconfirmed += 1; continue }
                var summary = perClass[entry.className] ?? SoakClassSummary()
                summary.confirmed += 1
                if let answered = entry.answered {
                    summary.answered += 1
                    if !entry.success { summary.failed += 1 }
                    summary.duplicates += entry.replies - 1
                    latencies[entry.className, default: []].append(entry.sent.duration(to: answered).inSeconds * 1000)
                }
                perClass[entry.className] = summary
            }
            for (name, values) in latencies {
                let sorted = values.sorted()
                perClass[name]?.p50 = sorted[sorted.count / 2]
                perClass[name]?.p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
                perClass[name]?.max = sorted.last ?? 0
            }
            return (perClass, state.unknownReplies, unconfirmed)
        }
    }
}

struct SoakClassSummary {
    var confirmed = 0, answered = 0, failed = 0, duplicates = 0
    var p50 = 0.0, p99 = 0.0, max = 0.0
}

/// The management node's side: publishes requests (persistent, confirmed, retried with the same id until the broker
/// confirms), reads replies from a durable inbox and `/vm/state/change` events from a queue of its own — both survive
/// a connection cut.
final class SoakClient: Sendable {
    let books: SoakBooks
    let inbox: String
    private let connection: AMQPConnection
    private let publisher: BusPublisher
    private let stops = Mutex<Set<String>>([])
    private let eventQueue: String
    private let pumps: Mutex<[Task<Void, Never>]> = Mutex([])

    private init(books: SoakBooks, connection: AMQPConnection, inbox: String, eventQueue: String) {
        self.books = books
        self.connection = connection
        self.publisher = BusPublisher(connection: connection, persistent: true)
        self.inbox = inbox
        self.eventQueue = eventQueue
    }

    static func start(amqp: AMQPConfiguration, books: SoakBooks) async throws -> SoakClient {
        let connection = AMQPConnection(configuration: amqp, prefetch: 2_000)
        try await connection.start()
        let inbox = ServiceID.replyInbox(of: NodeUUID.random()).queueName
        let events = "cloudbus.bench.soak.events.\(MessageID.random())"
        try await connection.declare(Topology(
            exchanges: BusTopology.exchanges,
            queues: [QueueDeclaration(name: inbox, durable: true, arguments: ["x-expires": .int32(600_000)]),
                     QueueDeclaration(name: events, durable: true, arguments: ["x-expires": .int32(600_000)])],
            bindings: [QueueBinding(queue: inbox, exchange: BusNames.p2pExchange, routingKey: inbox),
                       QueueBinding(queue: events, exchange: BusNames.broadcastExchange, routingKey: CanonicalEvent.routingKey)]))
        let client = SoakClient(books: books, connection: connection, inbox: inbox, eventQueue: events)
        // Replies and announcements are acked once counted: the connection-close fault closes this connection too,
        // and a delivery in flight at that moment must come back (the books then say whether the worker lost
        // something, not whether this client did). A redelivery already counted is not a duplicate reply.
        let replies = try await connection.consume(ConsumerSpecification(queue: inbox, noAck: false))
        let announcements = try await connection.consume(ConsumerSpecification(queue: events, noAck: false))
        client.pumps.withLock {
            $0 = [
                Task {
                    for await delivery in replies {
                        client.takeReply(delivery.body, redelivered: delivery.redelivered)
                        connection.ack(delivery.tag)
                    }
                },
                Task {
                    for await delivery in announcements {
                        client.takeEvent(delivery.body)
                        connection.ack(delivery.tag)
                    }
                },
            ]
        }
        return client
    }

    private func takeReply(_ body: [UInt8], redelivered: Bool) {
        guard let value = try? JSONValue(parsing: Data(body)), case .object(let outer) = value,
              let inner = outer.values.first, let id = inner["headers"]?["correlationId"]?.stringValue else { return }
        books.replied(id, success: inner["success"]?.boolValue ?? true, redelivered: redelivered)
    }

    private func takeEvent(_ body: [UInt8]) {
        let text = String(decoding: body, as: UTF8.self)
        guard text.contains(VmFullStateChangedData.path), let value = try? JSONValue(parsing: Data(body)),
              case .object(let outer) = value, let event = outer.values.first,
              event["path"]?.stringValue == VmFullStateChangedData.path,
              let content = event["content"], content["newState"]?.stringValue == "Stopped",
              let vm = content["vmUuid"]?.stringValue else { return }
        stops.withLock { _ = $0.insert(vm) }
    }

    /// VMs announced Stopped so far.
    var announcedStops: Set<String> { stops.withLock { $0 } }

    /// Publishes until the broker confirms (a sender's retry keeps the id), for at most `limit`.
    func sendUntilConfirmed(_ request: SoakRequest, within limit: Duration = .seconds(300)) async {
        books.sent(request)
        let body = request.body(replyTo: inbox)
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let outcome = try? await publisher.send(body: body, to: request.service, expiry: .never),
               outcome == .confirmed {
                books.confirmed(request.id)
                return
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Sends and waits for the answer, at most `limit`.
    func sendAndWait(_ request: SoakRequest, within limit: Duration) async throws {
        await sendUntilConfirmed(request, within: limit)
        let id = request.id
        let books = self.books
        let timeout = Task {
            try? await Task.sleep(for: limit)
            books.abandon(id)
        }
        await books.answer(of: id)
        timeout.cancel()
    }

    /// `lanes` lanes for `seconds`, each sending request number `lane + k × lanes` (k = 0, 1, …) and waiting for
    /// its answer before the next: a closed loop with `lanes` requests in flight.
    func closedLoop(lanes: Int, seconds: Double, request: @escaping @Sendable (Int) -> SoakRequest) async throws {
        let end = ContinuousClock.now + .seconds(seconds)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    var number = lane
                    while ContinuousClock.now < end {
                        try await self.sendAndWait(request(number), within: .seconds(30))
                        number += lanes
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    func waitUntilServing(_ node: NodeUUID, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let request = SoakRequest(id: MessageID.random(), className: EchoMsg.className,
                                      service: ServiceID(service: ServiceID.hostService, node: node).rawValue,
                                      fields: #""payload":"ready?","#)
            try? await sendAndWait(request, within: .seconds(2))
            if books.answeredCount > 0 { return true }
        }
        return false
    }

    func close() async {
        for pump in pumps.withLock({ $0 }) { pump.cancel() }
        await connection.close()
        try? RabbitSession.deleteQueues([inbox, eventQueue], configuration: connection.configuration)
    }
}

/// What the soak found, and whether every promise held.
struct SoakOutcome {
    let faults: [String]
    let drained: Duration
    let memory: [SoakMemorySample]
    let unannounced: [String]
    let flipped: Int
    let rate: Double
    let duration: Double

    /// The age past which a worker's memory is expected flat: by then the dedupe window (65,536 answers, with up
    /// to 8 MiB of reply bytes) is full at the rates soaked here, and so are the connection and HTTP buffers.
    static let warmAge = 150.0

    /// Per generation: RSS at its first sample past ``warmAge`` (or its last, if it died younger) and at its last, MB.
    func memoryByGeneration() -> [(generation: Int, warm: Double, end: Double, age: Double)] {
        Dictionary(grouping: memory, by: \.generation).keys.sorted().compactMap { generation in
            let samples = memory.filter { $0.generation == generation }
            guard let last = samples.last else { return nil }
            let warm = samples.first { $0.age >= Self.warmAge } ?? last
            return (generation, Double(warm.rss) / 1_048_576, Double(last.rss) / 1_048_576, last.age)
        }
    }

    /// Among the generations that lived past ``warmAge`` (a kill -9 restarts the worker): the first one's warm RSS
    /// and the last one's final RSS, MB. Nil when none lived that long.
    var memoryStartToEnd: (start: Double, end: Double)? {
        let warm = memoryByGeneration().filter { $0.age >= Self.warmAge }
        guard let first = warm.first, let last = warm.last else { return nil }
        return (first.warm, last.end)
    }

    func kept(books: SoakBooks, world: SoakWorld, checkMemory: Bool) -> Bool {
        let summary = books.summary()
        let answeredAll = summary.perClass.values.allSatisfy { $0.answered == $0.confirmed }
        let perGeneration = memoryByGeneration().filter { $0.age >= Self.warmAge }.allSatisfy { $0.end <= $0.warm * 1.10 }
        let memoryFlat = !checkMemory || (perGeneration && memoryStartToEnd.map { $0.end <= $0.start * 1.10 } ?? true)
        return answeredAll && unannounced.isEmpty && summary.unconfirmed == 0 && memoryFlat
    }

    func report(books: SoakBooks, world: SoakWorld) -> String {
        let summary = books.summary()
        var lines: [String] = []
        let confirmed = summary.perClass.values.reduce(0) { $0 + $1.confirmed }
        let answered = summary.perClass.values.reduce(0) { $0 + $1.answered }
        lines.append(String(format: "soak report: %.0f s at %.0f req/s, %d faults, worker generations %d, books closed %.1f s after the load",
                            duration, rate, faults.count, world.generations, drained.inSeconds))
        lines.append("")
        lines.append("| class | confirmed | answered | failed answers | duplicate replies | p50 ms | p99 ms | max ms |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for (name, row) in summary.perClass.sorted(by: { $0.key < $1.key }) {
            lines.append(String(format: "| %@ | %d | %d | %d | %d | %.1f | %.1f | %.0f |", (name.split(separator: ".").last.map(String.init) ?? name),
                                row.confirmed, row.answered, row.failed, row.duplicates, row.p50, row.p99, row.max))
        }
        lines.append("")
        lines.append("- requests confirmed = answered: \(confirmed == answered ? "yes" : "NO") (\(confirmed) / \(answered)); never confirmed: \(summary.unconfirmed); replies to unknown ids: \(summary.unknownReplies)")
        lines.append("- outputs expected = received: \(unannounced.isEmpty ? "yes" : "NO") (\(flipped) VMs turned off on the agent, \(flipped - unannounced.count) announced Stopped)")
        if let memory = memoryStartToEnd {
            lines.append(String(format: "- worker RSS, warm (%.0f s old) in the first generation that lived that long → at the end of the last one: %.1f MB → %.1f MB (%+.1f %%)",
                                Self.warmAge, memory.start, memory.end, (memory.end / max(memory.start, 0.001) - 1) * 100))
        }
        for row in memoryByGeneration() {
            lines.append(String(format: "  - generation %d: %.1f MB at %.0f s of age → %.1f MB at %.0f s", row.generation,
                                row.warm, min(row.age, Self.warmAge), row.end, row.age))
        }
        lines.append("- faults: " + faults.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }
}
