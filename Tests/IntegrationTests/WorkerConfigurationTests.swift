import InventoryPostgres
import AMQP
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Testing
import Worker

/// Configuration precedence and secrets: no broker needed.
@Suite("Worker configuration")
struct WorkerConfigurationTests {
    private func file(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "cbw-config-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a partial kvm or zbs block keeps the defaults of the keys it leaves out; a mistyped key is an error")
    func partialDomainBlocks() throws {
        let path = try file(#"{"kvm":{"orphanedVmSkipTimeoutSeconds":120},"zbs":{"mdsFailureMemorySeconds":5}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try WorkerConfiguration.resolve(file: path, environment: [:])
        #expect(configuration.kvm.orphanedVmSkipTimeoutSeconds == 120)
        #expect(configuration.kvm.vmSyncOnHostPing == true)
        #expect(configuration.kvm.pingMaxFailure == 3)
        #expect(configuration.zbs.mdsFailureMemorySeconds == 5)
        #expect(configuration.zbs.mdsAttemptTimeoutSeconds == 30)
        #expect(configuration.services == ["host", "vmInstance", "storage.primary"])

        let mistyped = try file(#"{"kvm":{"vmSyncOnHostPing":"yes"}}"#)
        defer { try? FileManager.default.removeItem(atPath: mistyped) }
        #expect(throws: (any Error).self) { try WorkerConfiguration.resolve(file: mistyped, environment: [:]) }
    }

    @Test("file < environment < flags, and the password never comes from a flag")
    func precedence() throws {
        let path = try file(#"{"amqp":{"url":"amqp://fileuser@file-host:5600/filevhost","password":"from-file","prefetch":10},"dataDir":"/tmp/from-file","services":["host"],"http":{"port":9001}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try WorkerConfiguration.resolve(file: path, environment: [:])
        #expect(fromFile.amqp.host == "file-host")
        #expect(fromFile.amqp.password == "from-file")
        #expect(fromFile.prefetch == 10)
        #expect(fromFile.httpPort == 9001)

        let environment = ["CLOUDBUS_AMQP_URL": "amqp://envuser@env-host/", "CLOUDBUS_AMQP_PASSWORD": "from-env",
                           "CLOUDBUS_DATA_DIR": "/tmp/from-env", "CLOUDBUS_PREFETCH": "20"]
        let fromEnvironment = try WorkerConfiguration.resolve(file: path, environment: environment)
        #expect(fromEnvironment.amqp.host == "env-host")
        #expect(fromEnvironment.amqp.user == "envuser")
        #expect(fromEnvironment.amqp.password == "from-env")
        #expect(fromEnvironment.dataDirectory == "/tmp/from-env")
        #expect(fromEnvironment.prefetch == 20)
        #expect(fromEnvironment.services == ["host"]) // untouched by the environment

        var overrides = WorkerConfiguration.Overrides()
        overrides.amqpURL = "amqp://flaguser@flag-host:5999/"
        overrides.prefetch = 30
        let fromFlags = try WorkerConfiguration.resolve(file: path, environment: environment, overrides: overrides)
        #expect(fromFlags.amqp.host == "flag-host")
        #expect(fromFlags.amqp.port == 5999)
        #expect(fromFlags.amqp.password == "from-env") // the password still comes from the environment
        #expect(fromFlags.prefetch == 30)
        #expect(!fromFlags.amqp.description.contains("from-env"))

        overrides.amqpURL = "amqp://flaguser:leaked@flag-host/"
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration.resolve(file: nil, environment: [:], overrides: overrides)
        }
    }

    @Test("a cluster's URLs from the file or CLOUDBUS_AMQP_URLS; url and urls together are refused")
    func clusterURLs() throws {
        let path = try file(#"{"amqp":{"urls":["amqp://guest@127.0.0.1:5681/%2F","amqp://guest@127.0.0.1:5682/%2F"],"password":"p"}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try WorkerConfiguration.resolve(file: path, environment: [:])
        #expect(fromFile.amqp.endpoints.map(\.description) == ["127.0.0.1:5681", "127.0.0.1:5682"])
        #expect(fromFile.amqp.password == "p")

        // The environment replaces the file's list (or its single url), and a flag replaces both.
        let fromEnvironment = try WorkerConfiguration.resolve(file: path, environment: [
            "CLOUDBUS_AMQP_URLS": "amqp://guest@127.0.0.1:5683/%2F, amqp://guest@localhost:5681/%2F",
        ])
        #expect(fromEnvironment.amqp.endpoints.map(\.description) == ["127.0.0.1:5683", "localhost:5681"])
        var overrides = WorkerConfiguration.Overrides()
        overrides.amqpURL = "amqp://guest@127.0.0.1:5699/%2F"
        let fromFlag = try WorkerConfiguration.resolve(file: path, environment: [:], overrides: overrides)
        #expect(fromFlag.amqp.endpoints.map(\.description) == ["127.0.0.1:5699"])

        let both = try file(#"{"amqp":{"url":"amqp://guest@127.0.0.1:5681/","urls":["amqp://guest@127.0.0.1:5682/"]}}"#)
        defer { try? FileManager.default.removeItem(atPath: both) }
        #expect(throws: ConfigurationError.self) { try WorkerConfiguration.resolve(file: both, environment: [:]) }
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration.resolve(file: nil, environment: [
                "CLOUDBUS_AMQP_URL": "amqp://guest@127.0.0.1:5681/", "CLOUDBUS_AMQP_URLS": "amqp://guest@127.0.0.1:5682/",
            ])
        }
        // URLs of one cluster differ in their address only.
        #expect(throws: AMQPError.self) {
            try WorkerConfiguration.resolve(file: nil, environment: [
                "CLOUDBUS_AMQP_URLS": "amqp://guest@127.0.0.1:5681/a,amqp://guest@127.0.0.1:5682/b",
            ])
        }
    }

    /// `packaging/` in this checkout.
    private static let packaging = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("packaging")

    @Test("a key no setting reads is refused, naming the file, the key and the nearest known one")
    func unknownKeysAreRefused() throws {
        for (json, expected) in [
            (#"{"kvm":{"pingTimeoutSecond":5}}"#, "unknown key kvm.pingTimeoutSecond (did you mean kvm.pingTimeoutSeconds?)"),
            (#"{"durableQueue":true}"#, "unknown key durableQueue (did you mean durableQueues?)"),
            (#"{"amqp":{"url":"amqp://guest@127.0.0.1/","passwrd":"x"}}"#, "unknown key amqp.passwrd (did you mean amqp.password?)"),
            (#"{"colour":"blue"}"#, "unknown key colour"),
        ] {
            let path = try file(json)
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try WorkerConfiguration.resolve(file: path, environment: [:])
                Issue.record("\(json) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.description == "invalid config file \(path): \(expected)")
            }
        }
        // Every key the forms read is known (a full file of them loads).
        let full = try file(#"{"amqp":{"url":"amqp://guest@127.0.0.1/","password":"p","prefetch":8,"heartbeatSeconds":10},"http":{"host":"127.0.0.1","port":0},"membership":{"heartbeatSeconds":1,"timeoutSeconds":3},"dedupeWindow":10,"keyBacklog":4,"trustedSenders":[],"ringNodes":[]}"#)
        defer { try? FileManager.default.removeItem(atPath: full) }
        _ = try WorkerConfiguration.resolve(file: full, environment: [:])
    }

    @Test("the example config in packaging/ loads as it is")
    func exampleConfigLoads() throws {
        let configuration = try WorkerConfiguration.resolve(
            file: Self.packaging.appendingPathComponent("worker.example.json").path, environment: [:])
        #expect(configuration.amqp.endpoints.map(\.description) == ["broker.example:5672"])
        #expect(configuration.logFormat == .json && configuration.queueType == .classic)
        #expect(configuration.publicCallbackURL == "http://worker-1.example:8081/zstack/asyncrest/callback")
    }

    @Test("the systemd unit in packaging/ passes systemd-analyze verify", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")))
    func systemdUnitVerifies() async throws {
        // verify checks that ExecStart's binary exists: point it at this build's.
        let unit = try String(contentsOf: Self.packaging.appendingPathComponent("cloudbus-worker.service"), encoding: .utf8)
        #expect(unit.contains("TimeoutStopSec=45") && unit.contains("LoadCredential=amqp-password:"))
        let directory = NSTemporaryDirectory() + "cbw-unit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/cloudbus-worker.service"
        try unit.replacingOccurrences(of: "/usr/local/bin/cloudbus-worker", with: CLIProcess.binary.path)
            .write(toFile: path, atomically: true, encoding: .utf8)
        // Waited for on a thread of its own: systemd-analyze can take seconds, too long to hold a pool thread.
        let (status, text) = try await onDedicatedThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
            process.arguments = ["verify", path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        #expect(status == 0, "systemd-analyze verify: \(text)")
    }

    @Test("the AMQP password from a file, from a systemd credential, and the precedence between them")
    func passwordSources() throws {
        let directory = NSTemporaryDirectory() + "cbw-credentials-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "from-credential\n".write(toFile: directory + "/amqp-password", atomically: true, encoding: .utf8)
        try "store-secret\n".write(toFile: directory + "/store-password", atomically: true, encoding: .utf8)
        try "from-file\n".write(toFile: directory + "/password.txt", atomically: true, encoding: .utf8)
        let credentials = ["CREDENTIALS_DIRECTORY": directory,
                           "CLOUDBUS_STORE_URL": "postgres://cloudbus@127.0.0.1:55432/cloudbus"]
        let fromCredential = try WorkerConfiguration.resolve(file: nil, environment: credentials)
        #expect(fromCredential.amqp.password == "from-credential")
        #expect(fromCredential.store?.password == "store-secret")
        var environment = credentials
        environment["CLOUDBUS_AMQP_PASSWORD_FILE"] = directory + "/password.txt"
        #expect(try WorkerConfiguration.resolve(file: nil, environment: environment).amqp.password == "from-file")
        environment["CLOUDBUS_AMQP_PASSWORD_FILE"] = nil
        environment["CLOUDBUS_AMQP_PASSWORD"] = "from-environment"
        #expect(try WorkerConfiguration.resolve(file: nil, environment: environment).amqp.password == "from-environment")
        // A password file that cannot be read is an error naming it, not an empty password.
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_AMQP_PASSWORD_FILE": directory + "/missing"])
        }
    }

    @Test("logFormat text|json from the file or CLOUDBUS_LOG_FORMAT; an unknown log level or format is an error")
    func logSettings() throws {
        #expect(try WorkerConfiguration.resolve(file: nil, environment: [:]).logFormat == .text)
        #expect(try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_LOG_FORMAT": "json"]).logFormat == .json)
        let path = try file(#"{"logFormat":"json","logLevel":"NOTICE"}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try WorkerConfiguration.resolve(file: path, environment: [:])
        #expect(fromFile.logFormat == .json && fromFile.logLevel == "NOTICE")
        for (name, value, named) in [("CLOUDBUS_LOG_LEVEL", "verbose", "logLevel"), ("CLOUDBUS_LOG_FORMAT", "xml", "CLOUDBUS_LOG_FORMAT")] {
            do {
                _ = try WorkerConfiguration.resolve(file: nil, environment: [name: value])
                Issue.record("\(name)=\(value) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.description.contains(named) && error.description.contains(value))
            }
        }
    }

    @Test("queueType and deliveryLimit: quorum needs durable queues; bad values are refused with their name")
    func queueSettings() throws {
        #expect(try WorkerConfiguration.resolve(file: nil, environment: [:]).queueOptions
                == WorkerQueueOptions(kind: .classic, durable: true, deliveryLimit: 5))
        let quorum = try WorkerConfiguration.resolve(file: nil, environment: [
            "CLOUDBUS_QUEUE_TYPE": "quorum", "CLOUDBUS_DELIVERY_LIMIT": "3",
        ])
        #expect(quorum.queueOptions == WorkerQueueOptions(kind: .quorum, durable: true, deliveryLimit: 3))
        let path = try file(#"{"queueType":"quorum","durableQueues":false}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ConfigurationError.self) { try WorkerConfiguration.resolve(file: path, environment: [:]) }
        for (name, value) in [("CLOUDBUS_QUEUE_TYPE", "mirrored"), ("CLOUDBUS_DELIVERY_LIMIT", "0"),
                              ("CLOUDBUS_DELIVERY_LIMIT", "five")] {
            do {
                _ = try WorkerConfiguration.resolve(file: nil, environment: [name: value])
                Issue.record("\(name)=\(value) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.description.contains(name == "CLOUDBUS_DELIVERY_LIMIT" && value == "0" ? "deliveryLimit" : name))
            }
        }
    }

    @Test("invalid values are refused with their name")
    func invalidValues() throws {
        do {
            _ = try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_NODE_UUID": "not-a-uuid"])
            Issue.record("an invalid node uuid was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("nodeUuid"))
        }
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_PREFETCH": "0"])
        }
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration.resolve(file: "/nonexistent/config.json", environment: [:])
        }
    }

    @Test("the node uuid is generated once and kept across restarts")
    func stableNodeIdentity() throws {
        let directory = NSTemporaryDirectory() + "cbw-node-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try NodeIdentity.resolve(configured: nil, directory: directory)
        #expect(NodeIdentity.isValid(first))
        let second = try NodeIdentity.resolve(configured: nil, directory: directory)
        #expect(first == second)
        let configured = "9b1d387e11bd3ab0a673c655eb4c8f66"
        #expect(try NodeIdentity.resolve(configured: configured, directory: directory) == configured)
    }
}
