@_spi(RawSession) import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusBench
import CloudBusTesting
import Foundation
import Glibc
import Logging
import Synchronization
import Testing

/// Issue 15: heap allocations per echo request of the release `cloudbus-worker`, counted, and held under a threshold.
/// Allocations are deterministic enough to gate on where timings are not: the count says whether the hot path got
/// heavier, on any machine, under any load.
///
/// The worker runs as operators run it (its own process, the release build) with libCloudBusMallocCounter.so
/// preloaded; the count is the whole process's — owner thread, cooperative pool, NIO, everything — between two
/// snapshots taken while it is idle, around 10,000 echoes. `make test` builds both and sets the paths; it runs this
/// suite alone (scripts/run-tests.sh), as a neighbour's load would change how the worker batches, and so the count.
@Suite("Allocation budget of the release worker")
struct AllocationBudgetTests {
    /// The budget, allocations per echo (whole process), lowered as the hot path gets lighter; never raised without
    /// saying why. History (release builds, 2026-12-05): ffac623, before issue 15: 224.7–257.7 over 15 runs (62–82 KB
    /// per echo); after its first session (one-pass codec, replies as bytes, 128-bit ledger keys, the mailbox's
    /// swapped lists): 145.4–149.8 over 3 runs (31–32 KB per echo); after its second session (handlers on the
    /// consuming connection's thread, the publish arena, cross-module optimisation, no dictionary modify coroutines,
    /// the decoder's inline stack, lazy coding paths and shared member tables): 91.2–93.0 over 3 runs (33–34 KB);
    /// in its third (answer log without an id index, borrowed publishes, one admitted-delivery object, base fields
    /// and headers read directly, coalesced writes, parked runners): 60.6–62.6 over 2 runs (14 KB); with decoders
    /// small enough for an existential's inline buffer (coding paths as a tree of indices): 46.5–50.0 (11–12 KB).
    /// In its fourth (bodies decoded in place, interned class names, service ids and reply inboxes, reused codec
    /// states, unchecked one-shot continuations in release builds, the journal's insert bound in place and its batch
    /// arrays reused): 19.2–21.7 over 3 runs (6.1–6.9 KB), issue 15's target of 20 reached in most runs. Fifth and
    /// sixth sessions: 16.1–18.7 (the budget left at 24). Seventh (2026-12-06: the publish connection's confirms read
    /// by the consuming thread, every journal batch lingering): 14.17–14.39 over 3 runs (4.9–5.0 KB). Twelfth
    /// (the answers in a log file of their own, no SQLite on the journal's path): 9.20–9.26 over 3 runs (2.8 KB).
    /// The budget is the highest run plus 10 %: the count moves with how the worker's reads and wake-ups batch W=100
    /// requests.
    static let allocationsPerEchoThreshold = 10.2

    /// Echoes before the first snapshot: caches, pools, connections and buffers reach their steady size.
    static let warmUpEchoes = 2_000
    /// Echoes counted.
    static let measuredEchoes = 10_000
    /// Requests kept in flight, as in the benchmark's W=100.
    static let window = 100
    /// From the worker's launch to the last snapshot; past it the test fails instead of hanging.
    static let limit = Duration.seconds(120)

    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var workerBinary: String? { environment["CLOUDBUS_ALLOC_WORKER_BINARY"] }
    static var counterLibrary: String? { environment["CLOUDBUS_MALLOC_COUNTER_LIB"] }
    /// `make test` sets CLOUDBUS_TEST_REQUIRE_ALLOC_CHECK, and CI sets CI=true: a missing binary, library or broker then
    /// fails the test instead of skipping it.
    static var required: Bool {
        environment["CLOUDBUS_TEST_REQUIRE_ALLOC_CHECK"] == "1" || environment["CI"] == "true"
    }
    static var configured: Bool { workerBinary != nil && counterLibrary != nil && TestBroker.url != nil }

    @Test(
        "Allocations per echo request stay within the budget",
        .enabled(if: configured || required, """
            needs CLOUDBUS_ALLOC_WORKER_BINARY (release cloudbus-worker), CLOUDBUS_MALLOC_COUNTER_LIB \
            (libCloudBusMallocCounter.so) and CLOUDBUS_TEST_AMQP_URL; `make test` sets them
            """),
        .timeLimit(.minutes(3))
    )
    func allocationsPerEcho() async throws {
        let binary = try #require(Self.workerBinary, "CLOUDBUS_ALLOC_WORKER_BINARY is unset")
        let library = try #require(Self.counterLibrary, "CLOUDBUS_MALLOC_COUNTER_LIB is unset")
        try #require(FileManager.default.isExecutableFile(atPath: binary), "no executable at \(binary)")
        try #require(FileManager.default.fileExists(atPath: library), "no library at \(library)")
        let amqp = try TestBroker.configuration()

        let worker = try CountedWorker.launch(binary: binary, library: library, amqp: amqp)
        let result: Result<AllocationMeasurement, any Error>
        do {
            result = .success(try await withinSafetyBound(Self.limit) { try await Self.measure(worker, amqp: amqp) })
        } catch {
            result = .failure(error)
        }
        let exitedEarly = !worker.isRunning
        await worker.stop()
        try? RabbitSession.deleteQueues(worker.leftoverQueues, configuration: amqp)

        let measurement: AllocationMeasurement
        switch result {
        case .success(let value): measurement = value
        case .failure(let error):
            var exited = exitedEarly ? " (the worker had exited)" : ""
            if case AllocationBudgetError.workerExited = error { exited = "" }
            Issue.record("\(error)\(exited); worker log \(worker.logPath):\n\(worker.logTail())")
            return
        }
        try? FileManager.default.removeItem(atPath: worker.directory)
        print("allocation budget: \(measurement)")
        #expect(measurement.allocationsPerEcho <= Self.allocationsPerEchoThreshold,
                "\(measurement); budget \(Self.allocationsPerEchoThreshold)")
    }

    /// Waits for the worker to answer, warms it up, and counts around the measured echoes.
    static func measure(_ worker: CountedWorker, amqp: AMQPConfiguration) async throws -> AllocationMeasurement {
        try await worker.waitUntilAnswering(amqp: amqp)
        let client = try await EchoClient.start(amqp: amqp, worker: worker)
        do {
            try await client.echo(count: warmUpEchoes, window: window)
            let warm = try await worker.snapshot()
            // An idle 1.5 s (with the snapshot's settling): what the worker allocates with no traffic, to tell
            // background noise from per-echo cost.
            try await Task.sleep(for: .seconds(1))
            let start = try await worker.snapshot()
            let began = ContinuousClock.now
            try await client.echo(count: measuredEchoes, window: window)
            let end = try await worker.snapshot()
            await client.close()
            return AllocationMeasurement(echoes: measuredEchoes, idle: start - warm, measured: end - start,
                                         wall: began.duration(to: .now))
        } catch {
            await client.close()
            throw error
        }
    }
}

/// One snapshot of libCloudBusMallocCounter's counters (since the process started), or a difference of two.
struct AllocationCounts: Sendable {
    var allocations: UInt64
    var bytes: UInt64
    var frees: UInt64

    static func - (lhs: Self, rhs: Self) -> Self {
        Self(allocations: lhs.allocations - rhs.allocations, bytes: lhs.bytes - rhs.bytes, frees: lhs.frees - rhs.frees)
    }
}

struct AllocationMeasurement: Sendable, CustomStringConvertible {
    var echoes: Int
    /// Over the idle 1.5 s before the measured echoes.
    var idle: AllocationCounts
    var measured: AllocationCounts
    var wall: Duration

    var allocationsPerEcho: Double { Double(measured.allocations) / Double(echoes) }
    var bytesPerEcho: Double { Double(measured.bytes) / Double(echoes) }
    /// Blocks still live at the end per echo: near 0 unless something grows or leaks.
    var retainedPerEcho: Double { (Double(measured.allocations) - Double(measured.frees)) / Double(echoes) }

    var description: String {
        func fixed(_ value: Double) -> String { String(format: "%.2f", value) }
        return "\(fixed(allocationsPerEcho)) allocations and \(fixed(bytesPerEcho)) bytes per echo "
            + "(\(measured.allocations) allocations, \(measured.bytes) bytes over \(echoes) echoes in \(wall); "
            + "retained \(fixed(retainedPerEcho)) blocks per echo; idle 1.5 s before: \(idle.allocations) allocations)"
    }
}

enum AllocationBudgetError: Error, CustomStringConvertible {
    case workerExited(status: Int32)
    case workerSilent(String)
    case noSnapshot(path: String, number: Int)
    case badReply(String)
    case repliesEnded(answered: Int, of: Int)

    var description: String {
        switch self {
        case .workerExited(let status): "the worker exited (status \(status))"
        case .workerSilent(let detail): "the worker does not answer an echo: \(detail)"
        case .noSnapshot(let path, let number):
            "no snapshot \(number) in \(path) within 10 s of SIGUSR2: is the counter library preloaded?"
        case .badReply(let text): "unexpected reply: \(text)"
        case .repliesEnded(let answered, let total): "the reply stream ended after \(answered) of \(total) replies"
        }
    }
}

/// The release worker under the counter: `cloudbus-worker run` serving `host` on a fresh node id, with its own data
/// directory, kernel-chosen HTTP and admin ports, transient queues (as the benchmark's transient mode), and
/// `LD_PRELOAD` plus `CLOUDBUS_MALLOC_COUNT_FILE` for the counter. Output goes to a log file beside the data.
final class CountedWorker: Sendable {
    let node = NodeUUID.random()
    let directory: String
    let logPath: String
    let countFile: String
    private let process: Process
    /// Snapshots requested so far; a snapshot is the line with its number (see CMallocCounter.h).
    private let snapshots = Mutex<Int>(0)

    var queue: String { ServiceID(service: ServiceID.hostService, node: node).queueName }
    var serviceId: String { ServiceID(service: ServiceID.hostService, node: node).rawValue }
    /// The transient queues still outlive the worker (they are not auto-delete).
    var leftoverQueues: [String] { [queue, BusTopology.eventQueue(node: node)] }
    var isRunning: Bool { process.isRunning }

    static func launch(binary: String, library: String, amqp: AMQPConfiguration) throws -> CountedWorker {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("cloudbus-alloc-\(UUID().uuidString.prefix(8).lowercased())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try CountedWorker(binary: binary, library: library, amqp: amqp, directory: directory)
    }

    private init(binary: String, library: String, amqp: AMQPConfiguration, directory: String) throws {
        self.directory = directory
        logPath = directory + "/worker.log"
        countFile = directory + "/malloc-counts"
        let config = directory + "/config.json"
        try Data(#"{"durableQueues": false}"#.utf8).write(to: URL(fileURLWithPath: config))
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }

        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text }
        let url = "amqp://\(encode(amqp.user))@\(amqp.host):\(amqp.port)/\(encode(amqp.virtualHost))"
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CLOUDBUS_") }
        environment["CLOUDBUS_AMQP_PASSWORD"] = amqp.password
        environment["CLOUDBUS_ADMIN_PORT"] = "0"
        environment["LD_PRELOAD"] = library
        environment["CLOUDBUS_MALLOC_COUNT_FILE"] = countFile

        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "run", "--config", config, "--amqp-url", url, "--node-uuid", node.rawValue, "--data-dir", directory,
            "--http-host", "127.0.0.1", "--http-port", "0", "--services", ServiceID.hostService,
            "--prefetch", "256", "--log-level", "warning",
        ]
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Echoes until one is answered (the queue exists once the worker serves), giving up if the worker exits.
    func waitUntilAnswering(amqp: AMQPConfiguration, within limit: Duration = .seconds(30)) async throws {
        do {
            _ = try await BenchReadiness.waitUntilAnswering(queue: queue, amqp: amqp, within: limit) {
                guard isRunning else { throw AllocationBudgetError.workerExited(status: process.terminationStatus) }
            }
        } catch let silent as BenchReadiness.Silent {
            throw AllocationBudgetError.workerSilent(silent.detail)
        }
    }

    /// Lets the last echoes' acks and confirms settle, then asks for a snapshot (SIGUSR2) and reads it.
    func snapshot() async throws -> AllocationCounts {
        try await Task.sleep(for: .milliseconds(500))
        guard isRunning else { throw AllocationBudgetError.workerExited(status: process.terminationStatus) }
        let number = snapshots.withLock { count in
            count += 1
            return count
        }
        kill(process.processIdentifier, SIGUSR2)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let counts = readSnapshot(number) { return counts }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw AllocationBudgetError.noSnapshot(path: countFile, number: number)
    }

    /// Line `number` of the count file, once written whole: `<number> <allocations> <bytes> <frees>`.
    private func readSnapshot(_ number: Int) -> AllocationCounts? {
        guard let data = FileManager.default.contents(atPath: countFile) else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        // The last element is what follows the last newline: a line still being written, or empty.
        for line in lines.dropLast() {
            let fields = line.split(separator: " ").compactMap { UInt64($0) }
            if fields.count == 4, fields[0] == UInt64(number) {
                return AllocationCounts(allocations: fields[1], bytes: fields[2], frees: fields[3])
            }
        }
        return nil
    }

    /// SIGTERM, then SIGKILL after 20 s.
    func stop() async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for limit in [Duration.seconds(20), .seconds(10)] {
            let deadline = ContinuousClock.now + limit
            while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
        }
    }

    func logTail(_ bytes: Int = 3000) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "<no log at \(logPath)>" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }
}

/// The benchmark's load, counted instead of timed: `cloudbus.worker.EchoMsg` requests published to `P2P` with the
/// worker's queue as routing key (transient, unconfirmed), each with its own id and a ~200-byte payload that starts
/// with that id (one executor key per request), and a closed loop of `window` in flight; replies come to a fresh reply
/// inbox, each must answer an outstanding request with success. Used by one task only.
final class EchoClient {
    private let connection: AMQPConnection
    private let worker: CountedWorker
    private let inbox: String
    private var replies: DeliveryStream.AsyncIterator
    /// Distinguishes this run's ids (the first 8 of 32 hex digits) from any other's.
    private let runTag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    private var sequence: UInt64 = 0
    private let createdTime = Int64(Date().timeIntervalSince1970 * 1000)
    private let properties = AMQPProperties(deliveryMode: 1, expiration: BusNames.messageExpiration)

    private init(connection: AMQPConnection, worker: CountedWorker, inbox: String,
                 replies: DeliveryStream.AsyncIterator) {
        self.connection = connection
        self.worker = worker
        self.inbox = inbox
        self.replies = replies
    }

    static func start(amqp: AMQPConfiguration, worker: CountedWorker) async throws -> EchoClient {
        var logger = Logger(label: "alloc-budget.client")
        logger.logLevel = .warning
        let connection = AMQPConnection(configuration: amqp, prefetch: 1, logger: logger)
        try await connection.start()
        do {
            let node = NodeUUID.random()
            try await connection.declare(BusTopology.replyInbox(node: node))
            let inbox = ServiceID.replyInbox(of: node).queueName
            let replies = try await connection.consume(ConsumerSpecification(queue: inbox, noAck: true))
            return EchoClient(connection: connection, worker: worker, inbox: inbox, replies: replies.makeAsyncIterator())
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Sends `count` echoes, `window` in flight, and returns once every one is answered.
    func echo(count: Int, window: Int) async throws {
        var outstanding = Set<String>()
        var sent = 0
        var answered = 0
        func send() {
            sequence += 1
            let hex = String(sequence, radix: 16)
            let id = String(repeating: "0", count: 8 - runTag.count) + runTag
                + String(repeating: "0", count: 24 - hex.count) + hex
            outstanding.insert(id)
            sent += 1
            let payload = id + "-" + String(repeating: "x", count: 200 - 33)
            let body = #"{"cloudbus.worker.EchoMsg":{"payload":"\#(payload)","id":"\#(id)","serviceId":"\#(worker.serviceId)","createdTime":\#(createdTime),"timeout":300000,"headers":{"correlationId":"\#(id)","replyTo":"\#(inbox)","noReply":"false","schema":{}}}}"#
            connection.publishWithoutConfirm(OutgoingMessage(exchange: BusNames.p2pExchange, routingKey: worker.queue,
                                                             body: Array(body.utf8), properties: properties))
        }
        while sent < min(window, count) { send() }
        while answered < count {
            guard let delivery = await replies.next() else {
                try Task.checkCancellation()
                throw AllocationBudgetError.repliesEnded(answered: answered, of: count)
            }
            let reply = try RPCReply(body: Data(delivery.body))
            guard let id = reply.correlationId, outstanding.remove(id) != nil, reply.success else {
                throw AllocationBudgetError.badReply(String(decoding: delivery.body.prefix(600), as: UTF8.self))
            }
            answered += 1
            if sent < count { send() }
        }
    }

    func close() async { await connection.close() }
}
