import AMQP
import ArgumentParser
import CloudBus
import CommandOptions
import Foundation
import Glibc
import Synchronization
import Worker

/// Responder (b): `NullResponder`, the raw rabbitmq-c baseline, in its own process (`cloudbus-bench null-responder`),
/// so its CPU time and peak RSS come from /proc/<pid> exactly as the worker's do and it never competes with the load
/// client for the bench process's threads. Same prefetch as the worker.
///
/// - `null`: a minimal 151-byte reply, transient, not mandatory; confirmed (ack after confirm) only in reliable mode.
/// - `null-confirm`, the guarantee-matched baseline: the worker's EchoReply shape echoing the payload (same reply
///   size), published `mandatory` with the request's delivery mode, in confirm mode, each request acked only after
///   its reply's confirm, in every mode.
final class BenchNullResponder: BenchResponder {
    let kind: BenchResponderKind
    let node = NodeUUID.random()
    let inProcess = false
    private let setup: BenchSetup
    private let options: NullResponder.Options
    private let child = Mutex<BenchChildProcess?>(nil)

    /// - Parameter guaranteeMatched: `null-confirm` (see the type's doc) instead of `null`.
    init(setup: BenchSetup, reliable: Bool, guaranteeMatched: Bool = false) {
        self.setup = setup
        kind = guaranteeMatched ? .nullConfirm : .null
        let queue = ServiceID(service: ServiceID.hostService, node: node).queueName
        options = NullResponder.Options(
            queue: queue, exchange: BusNames.p2pExchange, prefetch: setup.prefetch, durableQueue: reliable,
            confirmReplies: reliable || guaranteeMatched, mandatoryReplies: guaranteeMatched,
            echoPayload: guaranteeMatched, mirrorDeliveryMode: guaranteeMatched)
    }

    var serviceId: String { ServiceID(service: ServiceID.hostService, node: node).rawValue }
    var queue: String { options.queue }
    var leftoverQueues: [String] { [queue] }

    func start() async throws {
        var environment = setup.childEnvironment
        environment["CLOUDBUS_AMQP_PASSWORD"] = setup.amqp.password
        let process = try BenchChildProcess(
            executable: setup.benchExecutable,
            arguments: ["null-responder", "--amqp-url", setup.urlWithoutPassword]
                + BenchNullResponderCommand.arguments(for: options),
            environment: environment,
            logPath: URL(fileURLWithPath: setup.scratchDirectory).appendingPathComponent("\(kind.rawValue)-\(node.rawValue).log").path)
        child.withLock { $0 = process }
    }

    func cpuTime() -> Duration? { child.withLock { $0 }.flatMap { BenchProcStat.cpuTime(pid: $0.pid) } }

    func peakRSS() -> Int? { child.withLock { $0 }.flatMap { BenchProcStat.peakRSS(pid: "\($0.pid)") } }

    func stop() async -> String? {
        guard let process = child.withLock({ $0 }) else { return nil }
        let wasRunning = process.isRunning
        let status = await process.stop()
        if !wasRunning || status != 0 {
            return "\(kind.rawValue) responder ended with status \(status.map(String.init) ?? "killed"); log \(process.logPath):\n\(process.logTail)"
        }
        return nil
    }
}

/// `cloudbus-bench null-responder`: the child process behind `BenchNullResponder` (hidden; the bench starts it).
/// Runs `NullResponder` until SIGTERM/SIGINT, or until its parent is gone, then prints its counters to stderr.
/// Exit status 0 on a clean stop, 1 when the responder failed.
struct BenchNullResponderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "null-responder",
        abstract: "Run the rabbitmq-c null responder as its own process (started by the echo bench).",
        shouldDisplay: false)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Queue to consume (declared and bound to --exchange by its own name).")
    var queue: String

    @Option(help: "Exchange replies go to and the queue is bound to.")
    var exchange: String = BusNames.p2pExchange

    @Option(help: "Prefetch.")
    var prefetch: UInt16 = 256

    @Option(help: "Deliveries per multiple ack (default: a tenth of the prefetch).")
    var ackBatch: Int?

    @Flag(help: "Durable queue (otherwise non-durable, auto-delete).")
    var durable = false

    @Flag(help: "Publish replies in confirm mode; ack a request only after its reply's confirm.")
    var confirm = false

    @Flag(help: "Publish replies mandatory.")
    var mandatory = false

    @Flag(help: "Reply with an EchoReply echoing the request's payload (the worker's reply size).")
    var echoPayload = false

    @Flag(help: "Publish each reply with its request's delivery mode.")
    var mirrorDeliveryMode = false

    /// The command line that runs `options` (everything after `null-responder` but the broker URL).
    static func arguments(for options: NullResponder.Options) -> [String] {
        var arguments = ["--queue", options.queue, "--exchange", options.exchange, "--prefetch", "\(options.prefetch)",
                         "--ack-batch", "\(options.ackBatch)"]
        if options.durableQueue { arguments.append("--durable") }
        if options.confirmReplies { arguments.append("--confirm") }
        if options.mandatoryReplies { arguments.append("--mandatory") }
        if options.echoPayload { arguments.append("--echo-payload") }
        if options.mirrorDeliveryMode { arguments.append("--mirror-delivery-mode") }
        return arguments
    }

    func run() async throws {
        let configuration = try connection.resolve()
        let options = NullResponder.Options(
            queue: queue, exchange: exchange, prefetch: prefetch, durableQueue: durable, confirmReplies: confirm,
            ackBatch: ackBatch, mandatoryReplies: mandatory, echoPayload: echoPayload,
            mirrorDeliveryMode: mirrorDeliveryMode)
        let responder = NullResponder(configuration: configuration.amqp, options: options)
        nullResponderStopSignal.store(false, ordering: .relaxed)
        signal(SIGTERM) { _ in nullResponderStopSignal.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in nullResponderStopSignal.store(true, ordering: .relaxed) }
        let parent = getppid()
        try await responder.start()
        // A 50 ms poll on this (otherwise idle) thread: far below the responder's own cost, and it needs neither a
        // signal-handling thread nor a Linux-only parent-death setting.
        var failure: AMQPError?
        while true {
            if nullResponderStopSignal.load(ordering: .relaxed) || getppid() != parent { break }
            if let ended = responder.endedError {
                failure = ended
                break
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        let stopError = await responder.stop()
        failure = failure ?? stopError
        let stats = responder.statistics
        FileHandle.standardError.write(Data((
            "null-responder \(queue): answered \(stats.answered), unanswerable \(stats.unanswerable), "
            + "returned \(stats.returned), ack frames \(stats.ackFrames) covering \(stats.acknowledged)"
            + (failure.map { ", ended by \($0)" } ?? "") + "\n").utf8))
        if failure != nil { throw ExitCode(1) }
    }
}

/// Set by the SIGTERM/SIGINT handler (an atomic store is async-signal-safe), read by the child's main loop.
private let nullResponderStopSignal = Atomic<Bool>(false)
