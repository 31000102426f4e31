import AgentHTTP
import CloudBusTesting
import Foundation
import Glibc

/// Debian's Prometheus (`/usr/bin/prometheus`, package `prometheus` 2.42, installed by `scripts/deps.sh`) as a child
/// process on 127.0.0.1: its own configuration and TSDB in a temporary directory, a free port, and its HTTP API read
/// with the project's own HTTP client. ``withRunning(scraping:ruleFiles:_:)`` kills it and removes the directory on
/// every exit path; every wait is bounded.
final class PrometheusServer: Sendable {
    static let binary = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"

    /// Whether the suites that need Prometheus run: when it is installed, and always in CI (`CI=true`), where a
    /// missing package must fail them (``start(scraping:ruleFiles:)`` throws) instead of skipping them unseen.
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: binary) || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// Same rule for `promtool`.
    static var promtoolAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: promtool) || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// The package root (this file is Tests/IntegrationTests/Support/PrometheusServer.swift).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `docker/prometheus/alerts.yml`, the rules operators load.
    static var alertRules: URL { repositoryRoot.appendingPathComponent("docker/prometheus/alerts.yml") }

    /// The scrape job's name, as in `docker/prometheus/prometheus.yml` (the rules' `up{job=…}` names it).
    static let job = "cloudbus-worker"

    struct NotInstalled: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is missing: install Debian's prometheus package (scripts/deps.sh does)" }
    }

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    let port: Int
    let directory: String
    private let process: Process
    private let client = AgentHTTPClient()

    private var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port) }
    var logPath: String { directory + "/prometheus.log" }

    private init(port: Int, directory: String, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// Runs `body` with a Prometheus that scrapes `target` (`host:port` of a worker's admin listener) every second
    /// and evaluates `ruleFiles` every second; stops it and deletes its files however `body` ends.
    static func withRunning<T>(scraping target: String, ruleFiles: [URL] = [],
                               _ body: (PrometheusServer) async throws -> T) async throws -> T {
        try await withResource({ try await start(scraping: target, ruleFiles: ruleFiles) },
                               stop: { await $0.stop() }, body)
    }

    /// Starts the server and returns once `/-/ready` answers 200 (at most 30 s). A port taken between choosing and
    /// binding it is retried on another one.
    static func start(scraping target: String, ruleFiles: [URL]) async throws -> PrometheusServer {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw NotInstalled(path: binary) }
        var lastError: (any Error)?
        for _ in 0..<3 {
            let directory = NSTemporaryDirectory() + "cbw-prometheus-\(UUID().uuidString.prefix(8).lowercased())"
            let server: PrometheusServer
            do {
                server = try launch(scraping: target, ruleFiles: ruleFiles, directory: directory)
            } catch {
                try? FileManager.default.removeItem(atPath: directory)
                throw error
            }
            do {
                try await server.waitUntilReady(within: .seconds(30))
                return server
            } catch {
                let portTaken = server.logTail().contains("address already in use")
                await server.stop()
                guard portTaken else { throw error }
                lastError = error
            }
        }
        throw lastError ?? Failed(description: "Prometheus did not start")
    }

    private static func launch(scraping target: String, ruleFiles: [URL], directory: String) throws -> PrometheusServer {
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let rules = ruleFiles.map { "  - \"\($0.path)\"\n" }.joined()
        let configuration = """
            # Written by PrometheusScrapeTests: scrape one in-process worker every second.
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
            \(rules.isEmpty ? "  []\n" : rules)scrape_configs:
              - job_name: \(job)
                metrics_path: /metrics
                static_configs:
                  - targets: ["\(target)"]

            """
        let configPath = directory + "/prometheus.yml"
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)

        let port = try freeLoopbackPort()
        let logPath = directory + "/prometheus.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(configPath)", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--storage.tsdb.retention.time=1h", "--log.level=info",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return PrometheusServer(port: port, directory: directory, process: process)
    }

    /// SIGTERM, then SIGKILL after 10 s; then its directory goes. Idempotent.
    func stop() async {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            if !(await waitForExit(within: .seconds(10))) {
                kill(process.processIdentifier, SIGKILL)
                _ = await waitForExit(within: .seconds(10))
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Polls rather than `waitUntilExit`, which would block a thread of the cooperative pool.
    private func waitForExit(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !process.isRunning
    }

    private func waitUntilReady(within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw Failed(description: "Prometheus exited (\(process.terminationStatus)):\n\(logTail())")
            }
            if let response = try? await get("/-/ready"), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failed(description: "Prometheus not ready within \(limit):\n\(logTail())")
    }

    /// The last `bytes` of the server's log, for failure messages.
    func logTail(_ bytes: Int = 3000) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "<no log at \(logPath)>" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }

    private func get(_ path: String) async throws -> AgentHTTPResponse {
        try await client.get(from: endpoint, path: path, connectTimeout: .seconds(2), timeout: .seconds(10))
    }

    // MARK: HTTP API

    /// One element of an instant vector: its labels and its value.
    struct Sample: Decodable, Sendable {
        let metric: [String: String]
        let value: Double

        private enum CodingKeys: String, CodingKey { case metric, value }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            metric = try container.decodeIfPresent([String: String].self, forKey: .metric) ?? [:]
            // `[<unix time>, "<value>"]`: the value is a string ("12", "0.5", "NaN", "+Inf").
            var pair = try container.nestedUnkeyedContainer(forKey: .value)
            _ = try pair.decode(Double.self)
            let text = try pair.decode(String.self)
            guard let number = Double(text) ?? (text == "+Inf" ? .infinity : text == "-Inf" ? -.infinity : nil) else {
                throw DecodingError.dataCorruptedError(in: pair, debugDescription: "not a number: \(text)")
            }
            value = number
        }
    }

    /// One rule of `/api/v1/rules`.
    struct Rule: Decodable, Sendable {
        let name: String
        let type: String
        let health: String
        let query: String
        let lastError: String?
    }

    /// One group of `/api/v1/rules`.
    struct RuleGroup: Decodable, Sendable {
        let name: String
        let file: String
        let rules: [Rule]
    }

    private struct Envelope<Payload: Decodable>: Decodable {
        let status: String
        let data: Payload?
        let errorType: String?
        let error: String?
    }

    private struct VectorData: Decodable {
        let resultType: String
        let result: [Sample]
    }

    private struct RulesData: Decodable {
        let groups: [RuleGroup]
    }

    /// Evaluates `promql` now (`/api/v1/query`); an instant vector is expected.
    func query(_ promql: String) async throws -> [Sample] {
        let data: VectorData = try await api("/api/v1/query?query=" + Self.percentEncoded(promql))
        guard data.resultType == "vector" else {
            throw Failed(description: "\(promql): a \(data.resultType), not a vector")
        }
        return data.result
    }

    /// The value of the single sample `promql` yields, or nil when it yields none (or several).
    func value(_ promql: String) async throws -> Double? {
        let samples = try await query(promql)
        return samples.count == 1 ? samples[0].value : nil
    }

    /// The loaded rule groups and their health (`/api/v1/rules`).
    func ruleGroups() async throws -> [RuleGroup] {
        let data: RulesData = try await api("/api/v1/rules")
        return data.groups
    }

    private func api<Payload: Decodable>(_ path: String) async throws -> Payload {
        let response = try await get(path)
        let body = Data(response.body)
        let envelope: Envelope<Payload>
        do {
            envelope = try JSONDecoder().decode(Envelope<Payload>.self, from: body)
        } catch {
            throw Failed(description: "\(path): HTTP \(response.status), unreadable answer (\(error)): "
                + String(decoding: body.prefix(500), as: UTF8.self))
        }
        guard envelope.status == "success", let data = envelope.data else {
            throw Failed(description: "\(path): \(envelope.errorType ?? "error"): \(envelope.error ?? "no data")")
        }
        return data
    }

    /// Query-string encoding: everything but unreserved characters.
    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// A TCP port on 127.0.0.1 nothing listens on right now (bound to port 0, read back, closed).
    static func freeLoopbackPort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failed(description: "socket() failed: errno \(errno)") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw Failed(description: "bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        guard named == 0 else { throw Failed(description: "getsockname() failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Runs a command to completion (bounded: SIGKILL at `limit`) with its output in a temporary file, for scripts and
/// tools whose exit status and messages a test checks.
enum ToolRun {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    static func run(_ executable: String, _ arguments: [String], currentDirectory: URL? = nil,
                    within limit: Duration = .seconds(120)) async throws -> Result {
        let outputPath = NSTemporaryDirectory() + "cbw-tool-\(UUID().uuidString.prefix(8).lowercased()).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = currentDirectory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            try? output.close()
            throw error
        }
        try? output.close()
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            let text = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
            throw PrometheusServer.Failed(description: "\(executable) did not finish within \(limit):\n\(text)")
        }
        let text = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
        return Result(status: process.terminationStatus, output: text)
    }
}

/// ``eventually(within:every:_:)`` for conditions that must ask over the network (a query API): polls `condition`
/// until it holds or `limit` passes (60 s by default, as `eventually`); a failing ask counts as "not yet". Returns
/// whether it held.
func eventuallyAsync(
    within limit: Duration = .seconds(60), every interval: Duration = .milliseconds(100),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try await Task.sleep(for: interval)
    }
    return (try? await condition()) == true
}
