import InventoryPostgres
import AMQP
import Foundation
import Primitives
import Testing
import Worker

/// The settings registry: every declared setting reaches the worker through its variable and its file key, with the
/// source `config check` reports; bad values are refused by name; secrets never show.
@Suite("Configuration registry")
struct ConfigurationRegistryTests {
    /// A scratch directory, removed by the caller.
    private static func scratch() throws -> String {
        let directory = NSTemporaryDirectory() + "cbw-registry-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Settings whose sample is a file the loader reads: given a real file holding `contents`.
    private static let secretFiles = ["amqp.passwordFile": "amqp.password", "store.passwordFile": "store.password"]

    /// The sample of `setting` (a real password file for the `*.passwordFile` settings) and what else must be set
    /// for it to take effect (a store URL for the store's password).
    private static func sample(_ setting: SettingDeclaration, in directory: String) throws -> (String, [String: String]) {
        var companions: [String: String] = [:]
        if setting.key.hasPrefix("store."), setting.key != "store.url" {
            companions["CLOUDBUS_STORE_URL"] = "postgres://cloudbus@127.0.0.1:55432/cloudbus"
        }
        guard secretFiles[setting.key] != nil else { return (setting.sample, companions) }
        let path = directory + "/" + setting.key
        try "secret-from-\(setting.key)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return (path, companions)
    }

    @Test("every setting has a derived variable (or its old name), a sample that parses and differs from the default")
    func declarations() throws {
        let settings = WorkerConfiguration.settings
        #expect(Set(settings.map(\.key)).count == settings.count, "a key declared twice")
        #expect(Set(settings.map(\.environmentVariable)).count == settings.count, "a variable declared twice")
        let defaults = try WorkerConfiguration.load(file: nil, environment: [:])
        for setting in settings {
            let derived = SettingDeclaration.derivedVariable(for: setting.key)
            #expect(setting.environmentVariable == derived
                    || WorkerConfiguration.legacyVariableNames[setting.key] == setting.environmentVariable,
                    "\(setting.key): \(setting.environmentVariable), expected \(derived)")
            let sample = try #require(setting.sampleJSON, "\(setting.key): sample \(setting.sample) does not parse")
            if !setting.isSecret, Self.secretFiles[setting.key] == nil {
                #expect(defaults.setting(setting.key)?.value != sample, "\(setting.key): the sample is the default")
            }
            #expect(!setting.summary.isEmpty && !setting.defaultText.isEmpty)
        }
        // The variables that existed before the registry keep working under their names.
        let old = ["CLOUDBUS_AMQP_URL", "CLOUDBUS_AMQP_URLS", "CLOUDBUS_AMQP_PASSWORD", "CLOUDBUS_AMQP_PASSWORD_FILE",
                   "CLOUDBUS_NODE_UUID", "CLOUDBUS_DATA_DIR", "CLOUDBUS_PREFETCH", "CLOUDBUS_HTTP_HOST",
                   "CLOUDBUS_HTTP_PORT", "CLOUDBUS_CALLBACK_URL", "CLOUDBUS_QUEUE_TYPE", "CLOUDBUS_DELIVERY_LIMIT",
                   "CLOUDBUS_SERVICES", "CLOUDBUS_RING_NODES", "CLOUDBUS_LOG_LEVEL", "CLOUDBUS_LOG_FORMAT",
                   "CLOUDBUS_MEMBERSHIP_HEARTBEAT_SECONDS", "CLOUDBUS_MEMBERSHIP_TIMEOUT_SECONDS", "CLOUDBUS_STORE_URL",
                   "CLOUDBUS_STORE_PASSWORD", "CLOUDBUS_STORE_PASSWORD_FILE", "CLOUDBUS_ADMIN_HOST",
                   "CLOUDBUS_ADMIN_PORT"]
        #expect(Set(old).subtracting(settings.map(\.environmentVariable)).isEmpty)
        #expect(defaults.configuration.adminHost == "127.0.0.1" && defaults.configuration.adminPort == 9464)
        #expect(defaults.settings.allSatisfy { $0.source == .defaultValue })
    }

    @Test("every declared variable is honoured and reported as the source")
    func everyVariableIsHonoured() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for setting in WorkerConfiguration.settings {
            let (value, companions) = try Self.sample(setting, in: directory)
            let variable = setting.environmentVariable
            let loaded = try WorkerConfiguration.load(file: nil, environment: companions.merging([variable: value]) { $1 })
            let effective = try #require(loaded.setting(setting.key))
            #expect(effective.source == .environment(variable: variable), "\(setting.key)")
            if setting.isSecret {
                #expect(effective.value == .string("<redacted>"), "\(setting.key)")
            } else if Self.secretFiles[setting.key] != nil {
                #expect(effective.value == .string(value))
                let password = try #require(loaded.setting(Self.secretFiles[setting.key]!))
                #expect(password.source == .secretFile(via: variable, path: value))
            } else {
                #expect(effective.value == setting.sampleJSON, "\(setting.key): \(effective.value)")
            }
        }
        // The secrets themselves landed where the worker reads them.
        let amqp = try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_AMQP_PASSWORD": "sample-secret"])
        #expect(amqp.amqp.password == "sample-secret")
        let store = try WorkerConfiguration.resolve(file: nil, environment: [
            "CLOUDBUS_STORE_URL": "postgres://cloudbus@127.0.0.1:55432/cloudbus", "CLOUDBUS_STORE_PASSWORD": "s3",
        ])
        #expect(store.store?.password == "s3")
    }

    @Test("every declared key is read from the config file, and only declared keys are")
    func everyFileKeyIsRead() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var everything: [String: JSONValue] = [:]
        for setting in WorkerConfiguration.settings {
            let (value, companions) = try Self.sample(setting, in: directory)
            let json: JSONValue = Self.secretFiles[setting.key] != nil ? .string(value) : try #require(setting.sampleJSON)
            let file = Self.nest([setting.key: json])
            let path = directory + "/\(setting.key).json"
            try file.jsonData().write(to: URL(fileURLWithPath: path))
            let loaded = try WorkerConfiguration.load(file: path, environment: companions)
            let effective = try #require(loaded.setting(setting.key))
            #expect(effective.source == .file(path: path), "\(setting.key)")
            if !setting.isSecret { #expect(effective.value == json, "\(setting.key): \(effective.value)") }
            if setting.key != "amqp.urls", setting.key != "durableQueues" { everything[setting.key] = json }
        }
        // All of them at once load too (but amqp.urls, which replaces amqp.url, and durableQueues=false, which
        // quorum queues refuse).
        let path = directory + "/all.json"
        try Self.nest(everything).jsonData().write(to: URL(fileURLWithPath: path))
        let all = try WorkerConfiguration.load(file: path, environment: [:])
        #expect(all.settings.filter { $0.source == .defaultValue }.map(\.key) == ["amqp.urls", "durableQueues"])

        // Every key of the example config is a declared one, and a near miss of any declared key is refused.
        let declared = Set(WorkerConfiguration.settings.map(\.key))
        let packaging = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("packaging/worker.example.json")
        let example = try JSONValue(parsing: Data(contentsOf: packaging))
        #expect(Set(Self.flatten(example)).subtracting(declared).isEmpty)
        for setting in WorkerConfiguration.settings {
            let near = setting.key + "x"
            let file = directory + "/near.json"
            try Self.nest([near: setting.sampleJSON ?? .null]).jsonData().write(to: URL(fileURLWithPath: file))
            do {
                _ = try WorkerConfiguration.load(file: file, environment: [:])
                Issue.record("\(near) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.description == "invalid config file \(file): unknown key \(near) (did you mean \(setting.key)?)")
            }
        }
    }

    @Test("an invalid value is refused naming its variable, key or flag, and the value (never a secret's)")
    func invalidValuesAreNamed() throws {
        let bad = "¿bad?"
        var accepted: [String] = []
        for setting in WorkerConfiguration.settings {
            let variable = setting.environmentVariable
            do {
                var environment = ["CLOUDBUS_STORE_URL": "postgres://u@h/d"]
                environment[variable] = bad
                _ = try WorkerConfiguration.load(file: nil, environment: environment)
                accepted.append(setting.key)
            } catch let error as ConfigurationError {
                #expect(error.description.contains(variable), "\(setting.key): \(error)")
                #expect(error.description.contains(bad) != setting.isSecret, "\(setting.key): \(error)")
            } catch {
                // A broker URL is parsed by AMQPConfiguration, whose error names the URL (its password hidden).
                #expect(setting.key.hasPrefix("amqp.url") && "\(error)".contains(bad), "\(setting.key): \(error)")
            }
        }
        // Only free text takes anything (a password file that does not exist is refused when read).
        #expect(accepted.sorted() == ["admin.host", "amqp.caCertificate", "amqp.clientCertificate", "amqp.clientKey",
                                      "amqp.password", "dataDir", "http.host", "http.publicCallbackUrl",
                                      "services", "store.password", "trustedSenders"])
        // In the file: the key and the file; on the command line: the flag.
        let path = NSTemporaryDirectory() + "cbw-registry-\(UUID().uuidString).json"
        try #"{"admin":{"port":70000}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ConfigurationError.invalidValue(
            name: "admin.port in \(path)", value: "70000 (expected a whole number from 0 to 65535)")) {
            try WorkerConfiguration.load(file: path, environment: [:])
        }
        var overrides = WorkerConfiguration.Overrides()
        overrides.httpPort = 70000
        #expect(throws: ConfigurationError.invalidValue(
            name: "--http-port", value: "70000 (expected a whole number from 0 to 65535)")) {
            try WorkerConfiguration.load(file: nil, environment: [:], overrides: overrides)
        }
        #expect(throws: ConfigurationError.invalidValue(
            name: "CLOUDBUS_ADMIN_PORT (admin.port)", value: "-1 (expected a whole number from 0 to 65535)")) {
            try WorkerConfiguration.load(file: nil, environment: ["CLOUDBUS_ADMIN_PORT": "-1"])
        }
        #expect(try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_ADMIN_PORT": "0"]).adminPort == 0)
    }

    @Test("flag > environment > file > default, each reported as the source")
    func precedence() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/worker.json"
        try #"{"amqp":{"prefetch":10,"passwordFile":"/nonexistent"},"admin":{"port":9001},"kvm":{"pingMaxFailure":4}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let environment = ["CLOUDBUS_PREFETCH": "20", "CLOUDBUS_ADMIN_PORT": "9002", "CLOUDBUS_AMQP_PASSWORD": "pw"]
        var overrides = WorkerConfiguration.Overrides()
        overrides.prefetch = 30
        let loaded = try WorkerConfiguration.load(file: path, environment: environment, overrides: overrides)
        #expect(loaded.configuration.prefetch == 30)
        #expect(loaded.setting("amqp.prefetch")?.source == .flag("--prefetch"))
        #expect(loaded.configuration.adminPort == 9002)
        #expect(loaded.setting("admin.port")?.source == .environment(variable: "CLOUDBUS_ADMIN_PORT"))
        #expect(loaded.configuration.kvm.pingMaxFailure == 4)
        #expect(loaded.setting("kvm.pingMaxFailure")?.source == .file(path: path))
        #expect(loaded.setting("admin.host")?.source == .defaultValue)
        // The environment's password replaces the file's password file as a whole (the file is never read).
        #expect(loaded.configuration.amqp.password == "pw")
        #expect(loaded.setting("amqp.passwordFile")?.value == .null)
        #expect(loaded.setting("amqp.password")?.source == .environment(variable: "CLOUDBUS_AMQP_PASSWORD"))

        // A systemd credential counts only when nothing names a password; its source says so.
        try "from-credential\n".write(toFile: directory + "/amqp-password", atomically: true, encoding: .utf8)
        let credential = try WorkerConfiguration.load(file: nil, environment: ["CREDENTIALS_DIRECTORY": directory])
        #expect(credential.configuration.amqp.password == "from-credential")
        #expect(credential.setting("amqp.password")?.source == .systemdCredential(name: "amqp-password"))
        #expect(credential.text.contains("systemd credential amqp-password"))
        // A value a higher source overrides is still checked.
        try #"{"kvm":{"pingMaxFailure":"four"}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) {
            try WorkerConfiguration.load(file: path, environment: ["CLOUDBUS_KVM_PING_MAX_FAILURE": "5"])
        }
    }

    @Test("no secret appears in config check's output, also not inside a URL")
    func redaction() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "file-held-secret\n".write(toFile: directory + "/store-password", atomically: true, encoding: .utf8)
        let path = directory + "/worker.json"
        try #"{"amqp":{"url":"amqp://alice:url-held-secret@broker.example:5672/%2F"},"http":{"publicCallbackUrl":"http://cb:cb-url-secret@worker.example/cb"}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try WorkerConfiguration.load(file: path, environment: [
            "CLOUDBUS_STORE_URL": "postgres://cloudbus@127.0.0.1:55432/cloudbus",
            "CLOUDBUS_STORE_PASSWORD_FILE": directory + "/store-password",
        ])
        #expect(loaded.configuration.amqp.password == "url-held-secret")
        #expect(loaded.configuration.store?.password == "file-held-secret")
        for output in [loaded.text, loaded.json] {
            for secret in ["url-held-secret", "file-held-secret", "cb-url-secret"] {
                #expect(!output.contains(secret), "\(secret) in \(output)")
            }
        }
        #expect(loaded.text.contains("amqp://alice:<redacted>@broker.example:5672/%2F"))
        #expect(loaded.setting("amqp.password")?.source == .file(path: path))
        #expect(loaded.setting("store.password")?.source
                == .secretFile(via: "CLOUDBUS_STORE_PASSWORD_FILE", path: directory + "/store-password"))
        #expect(loaded.text.contains("file CLOUDBUS_STORE_PASSWORD_FILE=\(directory)/store-password"))
        #expect(Redaction.hidingPassword(in: "amqp://u:p@h:1/v?x=a:b@c") == "amqp://u:<redacted>@h:1/v?x=a:b@c")
        #expect(Redaction.hidingPassword(in: "amqp://u@h/") == "amqp://u@h/")
        // The JSON form is JSON, one entry per setting.
        let json = try JSONValue(parsing: Data(loaded.json.utf8))
        #expect(json["settings"]?.arrayValue?.count == WorkerConfiguration.settings.count)
    }

    @Test("the README's configuration table is the one the declarations generate")
    func readmeTable() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let markers = WorkerConfiguration.settingsTableMarkers
        let begin = try #require(text.range(of: markers.begin + "\n"), "README.md lacks \(markers.begin)")
        let end = try #require(text.range(of: markers.end, range: begin.upperBound..<text.endIndex))
        let table = String(text[begin.upperBound..<end.lowerBound])
        #expect(table == WorkerConfiguration.settingsTable,
                "README.md's table is stale; replace it with `cloudbus-worker config table`:\n\(WorkerConfiguration.settingsTable)")
    }

    /// `["kvm.pingMaxFailure": 3]` → `{"kvm": {"pingMaxFailure": 3}}`.
    private static func nest(_ flat: [String: JSONValue]) -> JSONValue {
        var top: [String: JSONValue] = [:]
        for (key, value) in flat {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 1 { top[key] = value; continue }
            var object = top[parts[0]]?.objectValue ?? [:]
            object[parts[1]] = value
            top[parts[0]] = .object(object)
        }
        return .object(top)
    }

    /// The dotted keys of a config file.
    private static func flatten(_ file: JSONValue) -> [String] {
        guard case .object(let top) = file else { return [] }
        return top.flatMap { key, value -> [String] in
            guard case .object(let nested) = value else { return [key] }
            return nested.keys.map { key + "." + $0 }
        }
    }
}
