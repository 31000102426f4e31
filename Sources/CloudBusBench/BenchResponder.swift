import AMQP
import ArgumentParser
import Foundation

/// Something that answers the bench's EchoMsg requests on one queue bound to `P2P`.
protocol BenchResponder: Sendable {
    var kind: BenchResponderKind { get }
    /// The queue requests are published to (routing key on `P2P`).
    var queue: String { get }
    /// `<service>.<node>`: the request's `serviceId`.
    var serviceId: String { get }
    /// Runs inside the bench process: its CPU is then subtracted from the client's, and it has no RSS of its own.
    var inProcess: Bool { get }
    /// Returns once the responder has been launched; the bench then waits until it answers.
    func start() async throws
    /// CPU time used so far by the responder alone (nil when it cannot be told apart).
    func cpuTime() -> Duration?
    /// Peak resident set size (VmHWM) of the responder's process in bytes; nil for in-process responders.
    func peakRSS() -> Int?
    /// Stops it and returns a problem worth printing, if any (nil = clean stop).
    func stop() async -> String?
    /// Queues it leaves behind on the broker (durable or not auto-delete), deleted by the bench afterwards.
    var leftoverQueues: [String] { get }
}

enum BenchResponderKind: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case worker, null, pika
    /// The guarantee-matched null responder, the primary baseline: in every mode its replies are the worker's
    /// size (payload echoed), `mandatory`, confirmed before the request is acked.
    case nullConfirm = "null-confirm"
    /// Another build of the worker (`--baseline-worker PATH`, e.g. the commit before a change), run the same way as
    /// `worker`: what a change costs, measured side by side in one run.
    case workerBaseline = "worker-baseline"
}

/// What every responder needs to start: the broker, a scratch directory, the common prefetch, the mode.
struct BenchSetup: Sendable {
    let amqp: AMQPConfiguration
    let scratchDirectory: String
    let prefetch: UInt16
    let python: String
    let pikaScript: String
    /// Every request on one executor key (`--same-key`): the worker then gets a key backlog as deep as the prefetch,
    /// or it would refuse what waits beyond its default bound (`keyBacklog`).
    var sameKey = false
    /// The `cloudbus-bench` binary that runs the null responders as children (`null-responder`): this one, or
    /// `CLOUDBUS_BENCH_BINARY` (the tests' process is not `cloudbus-bench`).
    var benchExecutable: String = BenchProcStat.benchExecutable

    /// A fresh scratch directory under the system's temporary directory, `cloudbus-bench-<name>-<8 hex>`.
    static func makeScratchDirectory(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("cloudbus-bench-\(name)-\(UUID().uuidString.prefix(8).lowercased())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `amqp://user@host:port/vhost`: for children that take the password from the environment.
    var urlWithoutPassword: String {
        "amqp://\(Self.encode(amqp.user))@\(amqp.host):\(amqp.port)/\(Self.encode(amqp.virtualHost))"
    }

    /// `amqp://user:password@host:port/vhost`: only for the pika peer, whose script takes nothing else.
    var urlWithPassword: String {
        "amqp://\(Self.encode(amqp.user)):\(Self.encode(amqp.password))@\(amqp.host):\(amqp.port)/\(Self.encode(amqp.virtualHost))"
    }

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    /// The bench's environment minus every `CLOUDBUS_*` setting, so a child sees only what the bench passes it.
    var childEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CLOUDBUS_") }
    }
}
