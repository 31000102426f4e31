import AMQP
import CloudBusAMQP
import CloudBus
import Foundation
import Inventory
import InventoryPostgres
import Logging
import Primitives

/// Everything the daemon needs, resolved from (lowest to highest precedence) a JSON config file,
/// `CLOUDBUS_*` environment variables and command-line flags. The AMQP password may come from the
/// file or the environment (`CLOUDBUS_AMQP_PASSWORD`), never from a flag, and is never logged.
public struct WorkerConfiguration: Sendable {
    /// Broker location without credentials in logs. Default: amqp://guest@127.0.0.1:5672/
    public var amqp: AMQPConfiguration
    /// Unacked deliveries in flight; also the bound on concurrently running handlers. Default: 256.
    public var prefetch: UInt16
    /// This worker's management-node id (32 lowercase hex). Default: generated once and kept in
    /// `dataDirectory/node-uuid`, so a restart keeps the same queues and ring position.
    public var nodeUUID: String?
    /// SQLite store (unless ``store`` names a shared one) and node id live here. Default: `.data/worker`.
    public var dataDirectory: String
    /// The shared PostgreSQL store of a fleet (`store.url`, `CLOUDBUS_STORE_URL`), or nil for the embedded SQLite
    /// file in ``dataDirectory`` (one worker, nothing else to install).
    public var store: PostgresStoreSettings?
    /// With a shared store: heartbeat interval and the silence after which a member is declared left
    /// (`membership.heartbeatSeconds`, `membership.timeoutSeconds`). Default: 5 s and 15 s.
    public var membership = FleetMembership.Settings()
    /// Services whose queues this worker consumes. Default: host, vmInstance.
    public var services: [String]
    /// Declare the worker's queues durable (survive a broker restart). Default: true.
    public var durableQueues: Bool
    /// `classic` (default) or `quorum` (replicated across a RabbitMQ cluster; requires durable queues). All workers
    /// of one broker must agree (docs/design-broker-cluster.md).
    public var queueType: WorkerQueueOptions.Kind = .classic
    /// Returns of one unanswered message (crashes, not the worker's own give-backs) before the worker refuses it as
    /// poison: counted by quorum queues (`x-delivery-count`; also their `x-delivery-limit`), by the store for classic
    /// ones. Default: 5.
    public var deliveryLimit = 5

    /// Test-only crash switch (`CLOUDBUS_TEST_CRASH_ON_PAYLOAD`, environment only, never in the file): an echo
    /// with this payload ends the process (see `EchoHandler`). Logged loudly at start when set.
    public var testCrashOnPayload: String?

    /// How the worker's queues are declared (what every declaration of them must repeat exactly).
    public var queueOptions: WorkerQueueOptions {
        WorkerQueueOptions(kind: queueType, durable: durableQueues || queueType == .quorum, deliveryLimit: deliveryLimit)
    }
    /// Bodies larger than this are dead-lettered unread. Default: 1 MiB.
    public var maxBodyBytes: Int
    /// Answered message ids remembered (with their reply) to answer duplicates. Default: 65,536.
    public var dedupeWindow: Int
    /// Management nodes whose settings changes and lifecycle/global-config events are obeyed; empty (the default)
    /// obeys every sender, as ZStack does. See `TrustedSenders`.
    public var trustedSenders: [String] = []
    /// Requests that may wait behind one key (one host, VM or volume) before more are refused with an error reply:
    /// a hung key must not hold the prefetch every other key needs. Nil: a sixteenth of `prefetch`, at least 4.
    public var keyBacklog: Int?

    /// ``keyBacklog`` as applied.
    public var effectiveKeyBacklog: Int { keyBacklog ?? max(4, Int(prefetch) / 16) }
    /// How long a delivery whose outputs the broker refused is held before it goes back to its queue (RabbitMQ would
    /// redeliver it at once: a target that keeps refusing would be retried in a hot loop). Default: 1 second.
    public var publishFailureBackoff: Duration = .seconds(1)
    /// Where agents call back and where `/healthz` answers. Default: 127.0.0.1:8081.
    public var httpHost: String
    public var httpPort: Int
    /// The callback URL handed to agents, for deployments behind NAT. Default: derived from host/port.
    public var publicCallbackURL: String?
    /// KVM host agent settings (ZStack names in comments).
    public var kvm: KVMSettings
    /// ZBS MDS call settings.
    public var zbs: ZBSSettings
    /// Other management nodes of the hash ring (this worker is always one): who owns a resource for messages
    /// the worker sends on and for `publish --resource`. Lifecycle events add and remove nodes at runtime.
    public var ringNodes: [String]
    public var logLevel: String
    /// `text` (default) or `json` lines (`logFormat`, `CLOUDBUS_LOG_FORMAT`).
    public var logFormat: LogFormat = .text

    /// The services a worker serves unless told otherwise: every service it has handlers for.
    public static let defaultServices = [ServiceID.hostService, ServiceID.vmInstanceService, ServiceID.primaryStorageService]

    public init() {
        amqp = AMQPConfiguration()
        prefetch = 256
        nodeUUID = nil
        dataDirectory = ".data/worker"
        services = Self.defaultServices
        durableQueues = true
        maxBodyBytes = 1 << 20
        dedupeWindow = 65_536
        httpHost = "127.0.0.1"
        httpPort = 8081
        publicCallbackURL = nil
        kvm = KVMSettings()
        zbs = ZBSSettings()
        ringNodes = []
        logLevel = "info"
    }

    /// The on-disk form (all optional): `{"amqp":{"url":"amqp://user@host/vhost" (or "urls":["amqp://…",…], a
    /// cluster's nodes),"password":"…",
    /// "prefetch":256,"heartbeatSeconds":30,"caCertificate":"…","clientCertificate":"…","clientKey":"…",
    /// "verifyPeer":true},"nodeUuid":"…","dataDir":"…","services":["host"],"durableQueues":true,
    /// "queueType":"classic","deliveryLimit":5,
    /// "maxBodyBytes":1048576,"dedupeWindow":65536,"http":{"host":"127.0.0.1","port":8081,
    /// "publicCallbackUrl":"…"},"kvm":{…},"ringNodes":["…"],"logLevel":"info",
    /// "store":{"url":"postgres://user@host:5432/db","password":"…","passwordFile":"…","operationTimeoutSeconds":10,
    /// "maxConnections":8}}`.
    struct FileForm: Decodable {
        struct StoreForm: Decodable {
            var url: String?
            var password: String?
            var passwordFile: String?
            var operationTimeoutSeconds: Double?
            var maxConnections: Int?
        }
        struct AMQPForm: Decodable {
            var url: String?
            /// A cluster's nodes, tried in order on every reconnect (docs/design-broker-cluster.md).
            var urls: [String]?
            var password: String?
            /// A file holding the password (its trailing newline dropped).
            var passwordFile: String?
            var prefetch: UInt16?
            var heartbeatSeconds: Int?
            var caCertificate: String?
            var clientCertificate: String?
            var clientKey: String?
            var verifyPeer: Bool?
        }
        struct HTTPForm: Decodable {
            var host: String?
            var port: Int?
            var publicCallbackUrl: String?
        }
        var amqp: AMQPForm?
        var nodeUuid: String?
        var dataDir: String?
        var services: [String]?
        var durableQueues: Bool?
        var queueType: String?
        var deliveryLimit: Int?
        var maxBodyBytes: Int?
        var dedupeWindow: Int?
        var keyBacklog: Int?
        var publishFailureBackoffSeconds: Double?
        var trustedSenders: [String]?
        var http: HTTPForm?
        var kvm: KVMSettings?
        var zbs: ZBSSettings?
        var ringNodes: [String]?
        var logLevel: String?
        var logFormat: String?
        var store: StoreForm?
        struct MembershipForm: Decodable {
            var heartbeatSeconds: Double?
            var timeoutSeconds: Double?
        }
        var membership: MembershipForm?
    }

    /// Command-line overrides; nil means "not given".
    public struct Overrides: Sendable {
        public var amqpURL: String?
        public var nodeUUID: String?
        public var dataDirectory: String?
        public var httpHost: String?
        public var httpPort: Int?
        public var publicCallbackURL: String?
        public var prefetch: UInt16?
        public var services: [String]?
        public var logLevel: String?
        public init() {}
    }

    /// Resolves file < environment < flags and validates the result.
    public static func resolve(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               overrides: Overrides = Overrides()) throws -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        var url: String?
        var urls: [String]?
        var password: String?
        var passwordFile: String?
        var heartbeat: Int?
        var tlsForm: FileForm.AMQPForm?
        var storeForm = FileForm.StoreForm()
        if let path = file ?? environment["CLOUDBUS_CONFIG"] {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ConfigurationError.unreadableFile(path: path, reason: "\(error.localizedDescription)")
            }
            // A typo in a key must not silently leave the setting at its default.
            if let unknown = try? Self.unknownKeys(in: data), let first = unknown.first {
                throw ConfigurationError.invalidFile(path: path, reason: Self.describeUnknown(first))
            }
            let form: FileForm
            do { form = try JSONDecoder().decode(FileForm.self, from: data) } catch {
                throw ConfigurationError.invalidFile(path: path, reason: "\(error)")
            }
            url = form.amqp?.url
            urls = form.amqp?.urls
            if url != nil, urls != nil {
                throw ConfigurationError.invalidFile(path: path, reason: "amqp.url and amqp.urls are both set; keep one")
            }
            password = form.amqp?.password
            passwordFile = form.amqp?.passwordFile
            heartbeat = form.amqp?.heartbeatSeconds
            tlsForm = form.amqp
            if let value = form.amqp?.prefetch { configuration.prefetch = value }
            if let value = form.nodeUuid { configuration.nodeUUID = value }
            if let value = form.dataDir { configuration.dataDirectory = value }
            if let value = form.services { configuration.services = value }
            if let value = form.durableQueues { configuration.durableQueues = value }
            if let value = form.queueType { configuration.queueType = try choice(value, "queueType") }
            if let value = form.deliveryLimit { configuration.deliveryLimit = value }
            if let value = form.maxBodyBytes { configuration.maxBodyBytes = value }
            if let value = form.dedupeWindow { configuration.dedupeWindow = value }
            if let value = form.keyBacklog { configuration.keyBacklog = value }
            if let value = form.publishFailureBackoffSeconds {
                guard value >= 0, value <= 3600 else {
                    throw ConfigurationError.invalidValue(name: "publishFailureBackoffSeconds", value: "\(value)")
                }
                configuration.publishFailureBackoff = .milliseconds(Int(value * 1000))
            }
            if let value = form.trustedSenders { configuration.trustedSenders = value }
            if let value = form.http?.host { configuration.httpHost = value }
            if let value = form.http?.port { configuration.httpPort = value }
            if let value = form.http?.publicCallbackUrl { configuration.publicCallbackURL = value }
            if let value = form.kvm { configuration.kvm = value }
            if let value = form.zbs { configuration.zbs = value }
            if let value = form.ringNodes { configuration.ringNodes = value }
            if let value = form.logLevel { configuration.logLevel = value }
            if let value = form.logFormat { configuration.logFormat = try choice(value, "logFormat") }
            if let value = form.store { storeForm = value }
            if let value = form.membership?.heartbeatSeconds { configuration.membership.heartbeat = try seconds(value, "membership.heartbeatSeconds") }
            if let value = form.membership?.timeoutSeconds { configuration.membership.timeout = try seconds(value, "membership.timeoutSeconds") }
        }
        let env = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if env("CLOUDBUS_AMQP_URL") != nil, env("CLOUDBUS_AMQP_URLS") != nil {
            throw ConfigurationError.invalidValue(
                name: "CLOUDBUS_AMQP_URLS", value: "set together with CLOUDBUS_AMQP_URL; keep one")
        }
        if let value = env("CLOUDBUS_AMQP_URL") { (url, urls) = (value, nil) }
        if let value = env("CLOUDBUS_AMQP_URLS") {
            (url, urls) = (nil, value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        // A source of higher precedence replaces both the password and the password file of a lower one.
        if let value = env("CLOUDBUS_AMQP_PASSWORD") { (password, passwordFile) = (value, nil) }
        if let value = env("CLOUDBUS_AMQP_PASSWORD_FILE") { (password, passwordFile) = (nil, value) }
        if let value = env("CLOUDBUS_NODE_UUID") { configuration.nodeUUID = value }
        if let value = env("CLOUDBUS_DATA_DIR") { configuration.dataDirectory = value }
        if let value = env("CLOUDBUS_PREFETCH") {
            guard let number = UInt16(value), number > 0 else { throw ConfigurationError.invalidValue(name: "CLOUDBUS_PREFETCH", value: value) }
            configuration.prefetch = number
        }
        if let value = env("CLOUDBUS_HTTP_HOST") { configuration.httpHost = value }
        if let value = env("CLOUDBUS_HTTP_PORT") {
            guard let number = Int(value) else { throw ConfigurationError.invalidValue(name: "CLOUDBUS_HTTP_PORT", value: value) }
            configuration.httpPort = number
        }
        if let value = env("CLOUDBUS_CALLBACK_URL") { configuration.publicCallbackURL = value }
        if let value = env("CLOUDBUS_TEST_CRASH_ON_PAYLOAD") { configuration.testCrashOnPayload = value }
        if let value = env("CLOUDBUS_QUEUE_TYPE") { configuration.queueType = try choice(value, "CLOUDBUS_QUEUE_TYPE") }
        if let value = env("CLOUDBUS_DELIVERY_LIMIT") {
            guard let number = Int(value) else {
                throw ConfigurationError.invalidValue(name: "CLOUDBUS_DELIVERY_LIMIT", value: value)
            }
            configuration.deliveryLimit = number
        }
        if let value = env("CLOUDBUS_SERVICES") { configuration.services = value.split(separator: ",").map(String.init) }
        if let value = env("CLOUDBUS_RING_NODES") { configuration.ringNodes = value.split(separator: ",").map(String.init) }
        if let value = env("CLOUDBUS_LOG_LEVEL") { configuration.logLevel = value }
        if let value = env("CLOUDBUS_LOG_FORMAT") { configuration.logFormat = try choice(value, "CLOUDBUS_LOG_FORMAT") }
        if let value = env("CLOUDBUS_MEMBERSHIP_HEARTBEAT_SECONDS") {
            configuration.membership.heartbeat = try seconds(Double(value) ?? -1, "CLOUDBUS_MEMBERSHIP_HEARTBEAT_SECONDS")
        }
        if let value = env("CLOUDBUS_MEMBERSHIP_TIMEOUT_SECONDS") {
            configuration.membership.timeout = try seconds(Double(value) ?? -1, "CLOUDBUS_MEMBERSHIP_TIMEOUT_SECONDS")
        }
        if let value = env("CLOUDBUS_STORE_URL") { storeForm.url = value }
        if let value = env("CLOUDBUS_STORE_PASSWORD") { storeForm.password = value }
        if let value = env("CLOUDBUS_STORE_PASSWORD_FILE") { storeForm.passwordFile = value }
        // systemd's LoadCredential= (packaging/cloudbus-worker.service): used when nothing else names a password.
        if let directory = env("CREDENTIALS_DIRECTORY") {
            let amqpCredential = directory + "/amqp-password", storeCredential = directory + "/store-password"
            if password == nil, passwordFile == nil, FileManager.default.fileExists(atPath: amqpCredential) {
                passwordFile = amqpCredential
            }
            if storeForm.password == nil, storeForm.passwordFile == nil,
               FileManager.default.fileExists(atPath: storeCredential) {
                storeForm.passwordFile = storeCredential
            }
        }

        if let value = overrides.amqpURL {
            if let parsed = URLComponents(string: value), parsed.password != nil {
                throw ConfigurationError.passwordOnCommandLine
            }
            (url, urls) = (value, nil)
        }
        if let value = overrides.nodeUUID { configuration.nodeUUID = value }
        if let value = overrides.dataDirectory { configuration.dataDirectory = value }
        if let value = overrides.httpHost { configuration.httpHost = value }
        if let value = overrides.httpPort { configuration.httpPort = value }
        if let value = overrides.publicCallbackURL { configuration.publicCallbackURL = value }
        if let value = overrides.prefetch { configuration.prefetch = value }
        if let value = overrides.services { configuration.services = value }
        if let value = overrides.logLevel { configuration.logLevel = value }

        var amqp = try urls.map { try AMQPConfiguration(urls: $0) }
            ?? url.map { try AMQPConfiguration(url: $0) } ?? AMQPConfiguration()
        if let passwordFile { password = try Self.secret(fromFile: passwordFile, what: "AMQP password file") }
        if let password { amqp.password = password }
        if let heartbeat { amqp.heartbeat = .seconds(heartbeat) }
        if let form = tlsForm, amqp.tls != nil {
            amqp.tls = .init(caCertificatePath: form.caCertificate, clientCertificatePath: form.clientCertificate,
                             clientKeyPath: form.clientKey, verifyPeer: form.verifyPeer ?? true)
        }
        configuration.amqp = amqp
        configuration.store = try Self.storeSettings(storeForm)
        try configuration.validate()
        return configuration
    }

    /// One of an enumerated setting's values (`queueType`, `logFormat`), or an error naming the setting and the choices.
    private static func choice<T: RawRepresentable & CaseIterable>(_ value: String, _ name: String) throws -> T
        where T.RawValue == String
    {
        guard let choice = T(rawValue: value) else {
            throw ConfigurationError.invalidValue(
                name: name, value: "\(value) (expected \(T.allCases.map(\.rawValue).joined(separator: " or ")))")
        }
        return choice
    }

    /// Every key a config file may hold, per object ("" is the top level), read off the forms the file decodes
    /// into, so the list cannot drift from what is actually read.
    static let knownFileKeys: [String: Set<String>] = [
        "": keys(of: FileForm()), "amqp": keys(of: FileForm.AMQPForm()), "http": keys(of: FileForm.HTTPForm()),
        "store": keys(of: FileForm.StoreForm()), "membership": keys(of: FileForm.MembershipForm()),
        "kvm": keys(of: KVMSettings()), "zbs": keys(of: ZBSSettings()),
    ]

    private static func keys(of form: Any) -> Set<String> {
        Set(Mirror(reflecting: form).children.compactMap(\.label))
    }

    /// The dotted paths of the keys in `data` (a JSON object) that no setting reads, in file order of discovery
    /// (sorted within an object). Throws when `data` is not JSON (the decoder then says why).
    static func unknownKeys(in data: Data) throws -> [String] {
        guard case .object(let top) = try JSONValue(parsing: data) else { return [] }
        var unknown: [String] = []
        for key in top.keys.sorted() {
            guard knownFileKeys[""]!.contains(key) else { unknown.append(key); continue }
            if let known = knownFileKeys[key], case .object(let nested)? = top[key] {
                unknown += nested.keys.sorted().filter { !known.contains($0) }.map { "\(key).\($0)" }
            }
        }
        return unknown
    }

    /// "unknown key kvm.pingTimeoutSecond (did you mean kvm.pingTimeoutSeconds?)".
    static func describeUnknown(_ path: String) -> String {
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        let object = parts.count == 2 ? parts[0] : ""
        let key = parts.last ?? path
        let candidates: [String] = (knownFileKeys[object] ?? []).sorted()
        let limit = max(2, key.count / 4)
        var nearest: (key: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(candidate.lowercased(), key.lowercased())
            if distance <= limit, distance < (nearest?.distance ?? Int.max) { nearest = (candidate, distance) }
        }
        guard let nearest else { return "unknown key \(path)" }
        let named = object.isEmpty ? nearest.key : object + "." + nearest.key
        return "unknown key \(path) (did you mean \(named)?)"
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// A secret kept in a file (a password file, a systemd credential): its text without the trailing newline.
    static func secret(fromFile path: String, what: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
        } catch {
            throw ConfigurationError.unreadableFile(path: path, reason: "\(what): \(error.localizedDescription)")
        }
    }

    /// A positive number of seconds up to an hour, as a Duration.
    private static func seconds(_ value: Double, _ name: String) throws -> Duration {
        guard value > 0, value <= 3600 else { throw ConfigurationError.invalidValue(name: name, value: "\(value)") }
        return .milliseconds(Int(value * 1000))
    }

    /// The shared store's settings from the file and environment, or nil when no URL is given (SQLite).
    static func storeSettings(_ form: FileForm.StoreForm) throws -> PostgresStoreSettings? {
        guard let url = form.url else { return nil }
        var password = form.password
        if password == nil, let path = form.passwordFile {
            password = try secret(fromFile: path, what: "store password file")
        }
        var settings: PostgresStoreSettings
        do {
            settings = try PostgresStoreSettings(url: url, password: password)
        } catch {
            throw ConfigurationError.invalidStore(reason: "\(error)")
        }
        if let seconds = form.operationTimeoutSeconds {
            guard seconds > 0, seconds <= 600 else {
                throw ConfigurationError.invalidValue(name: "store.operationTimeoutSeconds", value: "\(seconds)")
            }
            settings.operationTimeout = .milliseconds(Int(seconds * 1000))
        }
        if let connections = form.maxConnections {
            guard (1...200).contains(connections) else {
                throw ConfigurationError.invalidValue(name: "store.maxConnections", value: "\(connections)")
            }
            settings.maximumConnections = connections
        }
        return settings
    }

    func validate() throws {
        if let node = nodeUUID, !NodeIdentity.isValid(node) {
            throw ConfigurationError.invalidValue(name: "nodeUuid", value: node)
        }
        for node in ringNodes where !NodeIdentity.isValid(node) {
            throw ConfigurationError.invalidValue(name: "ringNodes", value: node)
        }
        guard prefetch > 0 else { throw ConfigurationError.invalidValue(name: "prefetch", value: "0") }
        // A typo must not quietly log at another level.
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            throw ConfigurationError.invalidValue(
                name: "logLevel",
                value: "\(logLevel) (expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard maxBodyBytes > 0 else { throw ConfigurationError.invalidValue(name: "maxBodyBytes", value: "\(maxBodyBytes)") }
        guard (0...65535).contains(httpPort) else { throw ConfigurationError.invalidValue(name: "http.port", value: "\(httpPort)") }
        guard !services.isEmpty else { throw ConfigurationError.invalidValue(name: "services", value: "[]") }
        guard (1...1000).contains(deliveryLimit) else {
            throw ConfigurationError.invalidValue(name: "deliveryLimit", value: "\(deliveryLimit) (1 to 1000)")
        }
        if queueType == .quorum, !durableQueues {
            throw ConfigurationError.invalidValue(
                name: "durableQueues", value: "false (quorum queues are always durable; drop the setting or use classic)")
        }
        // A member must miss at least two heartbeats before the others give its hosts away.
        guard membership.timeout >= membership.heartbeat * 2 else {
            throw ConfigurationError.invalidValue(
                name: "membership.timeoutSeconds",
                value: "\(membership.timeout) (must be at least twice membership.heartbeatSeconds, \(membership.heartbeat))")
        }
    }
}

public enum ConfigurationError: Error, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)
    case invalidFile(path: String, reason: String)
    case invalidValue(name: String, value: String)
    case passwordOnCommandLine
    case invalidStore(reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason): "cannot read config file \(path): \(reason)"
        case .invalidFile(let path, let reason): "invalid config file \(path): \(reason)"
        case .invalidValue(let name, let value): "invalid value for \(name): \(value)"
        case .invalidStore(let reason): "invalid store configuration: \(reason)"
        case .passwordOnCommandLine:
            "the AMQP password must not be given on the command line; use CLOUDBUS_AMQP_PASSWORD[_FILE], a systemd "
                + "credential or the config file"
        }
    }
}

/// The worker's management-node id: validated, and stable across restarts.
public enum NodeIdentity {
    public static func isValid(_ uuid: String) -> Bool {
        uuid.utf8.count == 32 && uuid.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Returns the configured id, else the one stored in `directory/node-uuid`, else a new one it stores.
    public static func resolve(configured: String?, directory: String) throws -> String {
        if let configured { return configured }
        let path = URL(fileURLWithPath: directory).appendingPathComponent("node-uuid")
        if let stored = try? String(contentsOf: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           isValid(stored) {
            return stored
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fresh = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try (fresh + "\n").write(to: path, atomically: true, encoding: .utf8)
        return fresh
    }
}
