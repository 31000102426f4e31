import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// `cloudbus-worker config check` run as an operator runs it: the built binary, its exit status and its output.
@Suite("config check command")
struct ConfigCheckCommandTests {
    /// The `cloudbus-worker` built with these tests: `CLOUDBUS_WORKER_BINARY`, else the one beside the test bundle
    /// (any `--scratch-path`), else `.build/debug`.
    static var binary: String? {
        if let path = ProcessInfo.processInfo.environment["CLOUDBUS_WORKER_BINARY"], !path.isEmpty { return path }
        var candidates: [URL] = []
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent("cloudbus-worker"))
            directory = directory.deletingLastPathComponent()
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("cloudbus-worker"))
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/cloudbus-worker"))
        return candidates.map(\.path).first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `cloudbus-worker` with `arguments` in an environment holding only `environment` (and PATH): nothing
    /// of the test runner's own `CLOUDBUS_*` leaks in. Run and waited for on a thread of its own, not on the
    /// cooperative pool.
    static func run(_ arguments: [String], environment: [String: String]) async throws -> Outcome {
        let binary = try #require(Self.binary, "cloudbus-worker is not built (swift build --build-tests)")
        return try await onDedicatedThread { try runBlocking(binary: binary, arguments, environment: environment) }
    }

    private static func runBlocking(binary: String, _ arguments: [String], environment: [String: String]) throws
        -> Outcome
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { mine, _ in mine }
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                       errors: String(decoding: errors, as: UTF8.self))
    }

    @Test("prints every setting with its value and source, secrets redacted; --json too; exits 0")
    func validConfiguration() async throws {
        let directory = NSTemporaryDirectory() + "cbw-check-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/worker.json"
        try #"{"amqp":{"url":"amqp://alice:in-the-url@broker.example:5672/%2F"},"kvm":{"pingMaxFailure":4}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        try "from-a-file\n".write(toFile: directory + "/store-password", atomically: true, encoding: .utf8)
        let environment = ["CLOUDBUS_ADMIN_PORT": "9555", "CLOUDBUS_STORE_URL": "postgres://cb@127.0.0.1:5432/cb",
                           "CLOUDBUS_STORE_PASSWORD_FILE": directory + "/store-password",
                           "CLOUDBUS_AMQP_PASSWORD": "from-the-env"]
        let text = try await Self.run(["config", "check", "--config", file, "--http-port", "8099"], environment: environment)
        #expect(text.status == 0, "\(text.errors)")
        let lines = text.output.split(separator: "\n").map(String.init)
        #expect(lines.count == WorkerConfiguration.settings.count)
        func line(_ key: String) -> [String] {
            lines.first { $0.hasPrefix(key + " ") }?.split(separator: " ", omittingEmptySubsequences: true)
                .map(String.init) ?? []
        }
        #expect(line("admin.port") == ["admin.port", "9555", "env", "CLOUDBUS_ADMIN_PORT"])
        #expect(line("http.port") == ["http.port", "8099", "flag", "--http-port"])
        #expect(line("kvm.pingMaxFailure") == ["kvm.pingMaxFailure", "4", "file", file])
        #expect(line("admin.host") == ["admin.host", "127.0.0.1", "default"])
        #expect(line("amqp.url") == ["amqp.url", "amqp://alice:<redacted>@broker.example:5672/%2F", "file", file])
        #expect(line("amqp.password") == ["amqp.password", "<redacted>", "env", "CLOUDBUS_AMQP_PASSWORD"])
        #expect(line("store.password")
                == ["store.password", "<redacted>", "file", "CLOUDBUS_STORE_PASSWORD_FILE=\(directory)/store-password"])

        let json = try await Self.run(["config", "check", "--config", file, "--json"], environment: environment)
        #expect(json.status == 0, "\(json.errors)")
        let parsed = try JSONValue(parsing: Data(json.output.utf8))
        let entries = try #require(parsed["settings"]?.arrayValue)
        #expect(entries.count == WorkerConfiguration.settings.count)
        let admin = try #require(entries.first { $0["key"] == .string("admin.port") })
        #expect(admin["value"] == .integer(9555) && admin["source"] == .string("env CLOUDBUS_ADMIN_PORT"))
        for output in [text.output, json.output, text.errors, json.errors] {
            for secret in ["in-the-url", "from-a-file", "from-the-env"] { #expect(!output.contains(secret)) }
        }
    }

    @Test("an invalid value exits non-zero, naming the variable and the value on stderr")
    func invalidConfiguration() async throws {
        let bad = try await Self.run(["config", "check"], environment: ["CLOUDBUS_KVM_PING_MAX_FAILURE": "many"])
        #expect(bad.status != 0)
        #expect(bad.output.isEmpty)
        #expect(bad.errors.contains("CLOUDBUS_KVM_PING_MAX_FAILURE") && bad.errors.contains("many"), "\(bad.errors)")
        let flag = try await Self.run(["config", "check", "--amqp-url", "amqp://u:leak@h/"], environment: [:])
        #expect(flag.status != 0 && !flag.errors.contains("leak") && flag.errors.contains("command line"))
        let missing = try await Self.run(["config", "check", "--config", "/nonexistent/worker.json"], environment: [:])
        #expect(missing.status != 0 && missing.errors.contains("/nonexistent/worker.json"))
    }
}
