import AMQP
import CloudBusAMQP
import CloudBus
import Foundation
import Inventory
import InventoryPostgres
import Logging
import Primitives

/// Everything the daemon needs, resolved from (lowest to highest precedence) a JSON config file,
/// `CLOUDBUS_*` environment variables and command-line flags; every setting is declared once in ``settings``
/// (Configuration/WorkerSettings.swift). The AMQP password may come from the file, the environment
/// (`CLOUDBUS_AMQP_PASSWORD[_FILE]`) or a systemd credential, never from a flag, and is never logged.
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
    /// Bytes of the most recent replies kept in memory for duplicates; older replies of the window are read back
    /// from the store when a copy asks. Default: 2 MiB — a few thousand replies, more than the prefetch windows a
    /// broker redelivers after a lost connection (the copies that come soon); a sender's retry comes later and
    /// costs one store read.
    public var replyCacheBytes = DeliveryLedger.defaultMaxCachedBytes
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
    /// The delivery pipeline and every handler run on Swift's cooperative pool instead of the consuming connection's
    /// owner thread (`handlersOnPool`). Default: false — the pipeline (decode, admission, publish, ack) and the
    /// lightweight handlers (`BusHandler.isLightweight`) run on that thread between its polls, so an echo is read,
    /// answered and acked without a thread hand-off; other handlers hop to the pool for their body only. True is for
    /// measuring the difference, or for a deployment whose lightweight handlers turn out not to be.
    public var handlersOnPool = false
    /// Where agents call back (probes and metrics are on the admin listener). Default: 127.0.0.1:8081.
    public var httpHost: String
    public var httpPort: Int
    /// The admin listener (`/metrics`, `/livez`, `/readyz`), apart from the agent callbacks so that scraping
    /// and probes never share a port with agents (`admin.host`, `CLOUDBUS_ADMIN_HOST`). Default: 127.0.0.1.
    public var adminHost = "127.0.0.1"
    /// Its port (`admin.port`, `CLOUDBUS_ADMIN_PORT`), 0…65535; 0 takes any free port (tests). Default: 9464.
    public var adminPort = 9464
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

    /// Resolves file < environment < flags and validates the result (``load(file:environment:overrides:)`` without
    /// the sources).
    public static func resolve(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               overrides: Overrides = Overrides()) throws -> WorkerConfiguration {
        try load(file: file, environment: environment, overrides: overrides).configuration
    }

    /// Every key a config file may hold, per object ("" is the top level, where the objects' names are keys too),
    /// read off ``settings``, so the file reader cannot know a key the other readers do not.
    static let knownFileKeys: [String: Set<String>] = {
        var known: [String: Set<String>] = [:]
        for setting in settings {
            known[setting.fileObject, default: []].insert(setting.fileName)
            if !setting.fileObject.isEmpty { known["", default: []].insert(setting.fileObject) }
        }
        return known
    }()

    /// The dotted paths of the keys in `data` (a JSON object) that no setting reads, sorted within an object.
    /// Throws when `data` is not JSON.
    static func unknownKeys(in data: Data) throws -> [String] {
        guard case .object(let top) = try JSONValue(parsing: data) else { return [] }
        return unknownKeys(in: top)
    }

    /// The dotted paths of the keys of `top` that no setting reads, sorted within an object.
    static func unknownKeys(in top: [String: JSONValue]) -> [String] {
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

    /// The shared store's settings, or nil when no URL is given (SQLite). Ranges were checked by the parsers.
    static func storeSettings(_ form: ConfigurationDraft.StoreDraft) throws -> PostgresStoreSettings? {
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
        if let seconds = form.operationTimeoutSeconds { settings.operationTimeout = .milliseconds(Int(seconds * 1000)) }
        if let connections = form.maxConnections { settings.maximumConnections = connections }
        return settings
    }

    /// What no single setting's parser can check: rules between settings.
    func validate() throws {
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

public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
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
