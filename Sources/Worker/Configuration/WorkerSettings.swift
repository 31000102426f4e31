import InventoryPostgres
import AMQP
import CloudBusAMQP
import Logging
import Primitives

/// What the readers fill in before the configuration is finished: the worker's own settings, plus the pieces of the
/// broker and store settings that are only put together at the end (a URL, its password, TLS files).
struct ConfigurationDraft: Sendable {
    var configuration = WorkerConfiguration()
    var amqpURL: String?
    var amqpURLs: [String]?
    var amqpPassword: String?
    var amqpPasswordFile: String?
    var amqpHeartbeatSeconds: Int?
    var caCertificate: String?
    var clientCertificate: String?
    var clientKey: String?
    var verifyPeer: Bool?
    var store = StoreDraft()

    struct StoreDraft: Sendable {
        var url: String?
        var password: String?
        var passwordFile: String?
        var operationTimeoutSeconds: Double?
        var maxConnections: Int?
    }
}

extension WorkerConfiguration {
    /// The variables whose names predate the `CLOUDBUS_` + upper-snake-cased key rule; kept so deployments keep
    /// working. Every other setting's variable is derived from its key.
    public static let legacyVariableNames: [String: String] = [
        "amqp.prefetch": "CLOUDBUS_PREFETCH",
        "http.publicCallbackUrl": "CLOUDBUS_CALLBACK_URL",
    ]

    /// Every setting the worker reads, in the order `config check` and the README list them. Adding one here is
    /// all it takes to have it in the file, the environment, `config check` and the README (the test that compares
    /// the README table says what to paste).
    public static let settings: [SettingDeclaration] = broker + identity + store + queues + listeners + kvmSettings
        + zbsSettings + logging

    private static let broker: [SettingDeclaration] = [
        .make("amqp.url", .string, default: "`amqp://guest@127.0.0.1:5672/`",
              sample: "amqp://sample@broker.example:5673/%2F", flag: "--amqp-url", flagNote: "all commands",
              override: { $0.amqpURL }, url: true, group: "amqp.broker",
              "broker URL (`amqp://` or `amqps://`, user, host, port, vhost; a password in it is hidden when shown)",
              set: { $0.amqpURL = $1 },
              get: { $0.amqpURLs == nil ? $0.amqpURL ?? "amqp://guest@127.0.0.1:5672/" : nil }),
        .make("amqp.urls", .list(expected: "broker URLs (a JSON array; comma-separated in the environment)",
                                 allowEmpty: false),
              default: "—", sample: "amqp://sample@b1.example:5672/%2F,amqp://sample@b2.example:5672/%2F",
              url: true, group: "amqp.broker",
              "a cluster's nodes, tried in order on every reconnect (same user, password, vhost and scheme; instead of "
                + "`amqp.url`; [design](docs/design-broker-cluster.md))",
              set: { $0.amqpURLs = $1 }, get: { $0.amqpURLs }),
        .make("amqp.password", .string, default: "`guest` (or the URL's)", sample: "sample-secret", secret: true,
              group: "amqp.password",
              "broker password, **never a flag**, never logged; also from `CLOUDBUS_AMQP_PASSWORD_FILE` or the "
                + "systemd credential `$CREDENTIALS_DIRECTORY/amqp-password` (used when nothing else names one)",
              set: { $0.amqpPassword = $1 }, get: { $0.configuration.amqp.password }),
        .make("amqp.passwordFile", .string, default: "—", sample: "/run/secrets/sample-amqp-password",
              group: "amqp.password", "a file holding the broker password (its trailing newline dropped)",
              set: { $0.amqpPasswordFile = $1 }, get: { $0.amqpPasswordFile }),
        .make("amqp.prefetch", .integer(1...65535), default: "256", sample: "32",
              variable: legacyVariableNames["amqp.prefetch"], flag: "--prefetch", flagNote: "run",
              override: { $0.prefetch.map(String.init) },
              "prefetch: unacked deliveries, so also the most handlers running at once"
                  + " (a quarter of it fills an answer batch)",
              set: { $0.configuration.prefetch = UInt16($1) }, get: { Int($0.configuration.prefetch) }),
        .make("amqp.heartbeatSeconds", .integer(0...65535), default: "30", sample: "15",
              "AMQP heartbeat (seconds)", set: { $0.amqpHeartbeatSeconds = $1 },
              get: { Int($0.configuration.amqp.heartbeat.components.seconds) }),
        .make("amqp.caCertificate", .string, default: "the system's", sample: "/etc/cloudbus/sample-ca.pem",
              "TLS (with `amqps://`, broker by DNS name: [docs/operations.md](docs/operations.md#tls-to-the-broker)): "
                + "CA certificate file",
              set: { $0.caCertificate = $1 }, get: { $0.caCertificate }),
        .make("amqp.clientCertificate", .string, default: "—", sample: "/etc/cloudbus/sample-cert.pem",
              "TLS client certificate file", set: { $0.clientCertificate = $1 }, get: { $0.clientCertificate }),
        .make("amqp.clientKey", .string, default: "—", sample: "/etc/cloudbus/sample-key.pem",
              "TLS client key file", set: { $0.clientKey = $1 }, get: { $0.clientKey }),
        .make("amqp.verifyPeer", .bool, default: "true", sample: "false",
              "TLS: verify the broker's certificate and name", set: { $0.verifyPeer = $1 },
              get: { $0.verifyPeer ?? true }),
    ]

    private static let identity: [SettingDeclaration] = [
        .make("nodeUuid", ValueParser.string.checked("32 lowercase hex digits", NodeIdentity.isValid),
              default: "generated once, kept in `<dataDir>/node-uuid`", sample: "9b1d387e11bd3ab0a673c655eb4c8f66",
              flag: "--node-uuid", flagNote: "run", override: { $0.nodeUUID },
              "this worker's node UUID (its queues and ring position)",
              set: { $0.configuration.nodeUUID = $1 }, get: { $0.configuration.nodeUUID }),
        .make("dataDir", .string, default: "`.data/worker`", sample: "/var/lib/cloudbus-sample",
              flag: "--data-dir", flagNote: "run, inventory import", override: { $0.dataDirectory },
              "data directory (SQLite inventory and its answer log, node id)",
              set: { $0.configuration.dataDirectory = $1 }, get: { $0.configuration.dataDirectory }),
        .make("ringNodes", .list(expected: "node UUIDs (32 lowercase hex digits; comma-separated in the environment)",
                                 item: NodeIdentity.isValid),
              default: "—", sample: "d0d0cafe0000400000000000000000a1,9b1d387e11bd3ab0a673c655eb4c8f66",
              flag: "--nodes", flagNote: "publish",
              "other workers of the hash ring when there is no shared store (with one, the ring is the store's live "
                + "workers; also for `publish --resource`)",
              set: { $0.configuration.ringNodes = $1 }, get: { $0.configuration.ringNodes }),
        .make("trustedSenders", .list(), default: "[] (all, as ZStack)", sample: "d0d0cafe0000400000000000000000a1",
              "management nodes whose settings changes and lifecycle/global-config events are obeyed",
              set: { $0.configuration.trustedSenders = $1 }, get: { $0.configuration.trustedSenders }),
    ]

    private static let store: [SettingDeclaration] = [
        .make("store.url", .string, default: "none: SQLite in the data directory",
              sample: "postgres://sample@db.example:5432/cloudbus", url: true,
              "shared store of a fleet: `postgres://user@host:port/db[?sslmode=require][&schema=name]` (no password "
                + "in it)",
              set: { $0.store.url = $1 }, get: { $0.store.url }),
        .make("store.password", .string, default: "—", sample: "sample-store-secret", secret: true,
              group: "store.password",
              "shared store password, never a flag, never logged; also from `CLOUDBUS_STORE_PASSWORD_FILE` or the "
                + "systemd credential `$CREDENTIALS_DIRECTORY/store-password`",
              set: { $0.store.password = $1 }, get: { $0.configuration.store?.password ?? $0.store.password }),
        .make("store.passwordFile", .string, default: "—", sample: "/run/secrets/sample-store-password",
              group: "store.password", "a file holding the shared store password",
              set: { $0.store.passwordFile = $1 }, get: { $0.store.passwordFile }),
        .make("store.operationTimeoutSeconds", .seconds(above: 0, upTo: 600), default: "10", sample: "4",
              "shared store: bound on one operation (s)",
              set: { $0.store.operationTimeoutSeconds = $1 }, get: { $0.store.operationTimeoutSeconds ?? 10 }),
        .make("store.maxConnections", .integer(1...200), default: "8", sample: "3",
              "shared store: pool connections", set: { $0.store.maxConnections = $1 },
              get: { $0.store.maxConnections ?? 8 }),
        .make("membership.heartbeatSeconds", .seconds(above: 0, upTo: 3600), default: "5", sample: "2",
              "fleet (shared store only): heartbeat interval (s)",
              set: { $0.configuration.membership.heartbeat = .milliseconds(Int($1 * 1000)) },
              get: { $0.configuration.membership.heartbeat.inSeconds }),
        .make("membership.timeoutSeconds", .seconds(above: 0, upTo: 3600), default: "15", sample: "40",
              "fleet: silence after which a worker is declared left (s; at least 2 × the heartbeat)",
              set: { $0.configuration.membership.timeout = .milliseconds(Int($1 * 1000)) },
              get: { $0.configuration.membership.timeout.inSeconds }),
    ]

    private static let queues: [SettingDeclaration] = [
        .make("services", .list(expected: "service names (comma-separated in the environment), at least one",
                                allowEmpty: false),
              default: "`host,vmInstance,storage.primary`", sample: "host,vmInstance", flag: "--services",
              flagNote: "run", override: { $0.services?.joined(separator: ",") }, "services served",
              set: { $0.configuration.services = $1 }, get: { $0.configuration.services }),
        .make("durableQueues", .bool, default: "true", sample: "false", "durable queues",
              set: { $0.configuration.durableQueues = $1 }, get: { $0.configuration.durableQueues }),
        .make("queueType", .choice(WorkerQueueOptions.Kind.self), default: "classic", sample: "quorum",
              "queue type: `classic`, or `quorum` (replicated over a RabbitMQ cluster; "
                + "[design](docs/design-broker-cluster.md))",
              set: { $0.configuration.queueType = $1 }, get: { $0.configuration.queueType }),
        .make("deliveryLimit", .integer(1...1000), default: "5", sample: "3",
              "returns of one unanswered message before it is refused as poison (quorum: `x-delivery-count`, also "
                + "the queues' `x-delivery-limit`; classic: counted in the store)",
              set: { $0.configuration.deliveryLimit = $1 }, get: { $0.configuration.deliveryLimit }),
        .make("maxBodyBytes", .integer(1...Int.max), default: "1048576", sample: "65536",
              "body size limit (bytes; applied from the content header, before the body is read)",
              set: { $0.configuration.maxBodyBytes = $1 }, get: { $0.configuration.maxBodyBytes }),
        .make("dedupeWindow", .integer(1...Int.max), default: "65536", sample: "1024",
              "answered message ids remembered with their reply (duplicates get it again)",
              set: { $0.configuration.dedupeWindow = $1 }, get: { $0.configuration.dedupeWindow }),
        .make("replyCacheBytes", .integer(0...Int.max), default: "2097152", sample: "8388608",
              "bytes of recent replies kept in memory for duplicates (older ones of the window are read back from "
                + "the store)",
              set: { $0.configuration.replyCacheBytes = $1 }, get: { $0.configuration.replyCacheBytes }),
        .make("keyBacklog", .integer(1...Int.max), default: "prefetch / 16, at least 4", sample: "7",
              "requests that may wait behind one key before more are refused (`SYS.1006`, dead-letter reason "
                + "`key-backlog-full`)",
              set: { $0.configuration.keyBacklog = $1 }, get: { $0.configuration.effectiveKeyBacklog }),
        .make("handlersOnPool", .bool, default: "false", sample: "true",
              "run the delivery pipeline and every handler on Swift's cooperative pool instead of the consuming "
                + "connection's thread (costs thread hand-offs per message; see docs/design-hot-path.md)",
              set: { $0.configuration.handlersOnPool = $1 }, get: { $0.configuration.handlersOnPool }),
        .make("publishFailureBackoffSeconds", .seconds(above: 0, inclusive: true, upTo: 3600), default: "1",
              sample: "2.5",
              "pause before a delivery whose outputs the broker refused goes back to its queue (no hot redelivery "
                + "loop)",
              set: { $0.configuration.publishFailureBackoff = .milliseconds(Int($1 * 1000)) },
              get: { $0.configuration.publishFailureBackoff.inSeconds }),
    ]

    private static let listeners: [SettingDeclaration] = [
        .make("http.host", .string, default: "127.0.0.1", sample: "0.0.0.0", flag: "--http-host", flagNote: "run",
              override: { $0.httpHost }, "address of the agent-callback HTTP server (agents must reach it)",
              set: { $0.configuration.httpHost = $1 }, get: { $0.configuration.httpHost }),
        .make("http.port", .integer(0...65535), default: "8081", sample: "18081", flag: "--http-port",
              flagNote: "run", override: { $0.httpPort.map(String.init) },
              "port of the agent-callback HTTP server (0: any free port)",
              set: { $0.configuration.httpPort = $1 }, get: { $0.configuration.httpPort }),
        .make("http.publicCallbackUrl", .string, default: "`http://<http.host>:<port>/zstack/asyncrest/callback`",
              sample: "http://worker-sample.example:8081/zstack/asyncrest/callback",
              variable: legacyVariableNames["http.publicCallbackUrl"], flag: "--callback-url", flagNote: "run",
              override: { $0.publicCallbackURL }, url: true, "callback URL handed to agents (NAT)",
              set: { $0.configuration.publicCallbackURL = $1 }, get: { $0.configuration.publicCallbackURL }),
        .make("admin.host", .string, default: "127.0.0.1", sample: "0.0.0.0",
              "address of the admin listener (`/metrics`, `/livez`, `/readyz`)",
              set: { $0.configuration.adminHost = $1 }, get: { $0.configuration.adminHost }),
        .make("admin.port", .integer(0...65535), default: "9464", sample: "19464",
              "port of the admin listener (0: any free port)",
              set: { $0.configuration.adminPort = $1 }, get: { $0.configuration.adminPort }),
    ]

    private static let kvmSettings: [SettingDeclaration] = [
        .make("kvm.pingTimeoutSeconds", .seconds(above: 0, upTo: 3600), default: "10", sample: "4",
              "ping timeout per try (`host.ping.timeout`)",
              set: { $0.configuration.kvm.pingTimeoutSeconds = $1 }, get: { $0.configuration.kvm.pingTimeoutSeconds }),
        .make("kvm.pingMaxFailure", .integer(1...1000), default: "3", sample: "5",
              "ping tries (`host.ping.maxFailure`)",
              set: { $0.configuration.kvm.pingMaxFailure = $1 }, get: { $0.configuration.kvm.pingMaxFailure }),
        .make("kvm.pingSleepAfterFailureSeconds", .seconds(above: 0, inclusive: true, upTo: 3600), default: "1",
              sample: "0.5", "sleep after a failed try (`ping.sleepPeriodAfterFailure`)",
              set: { $0.configuration.kvm.pingSleepAfterFailureSeconds = $1 },
              get: { $0.configuration.kvm.pingSleepAfterFailureSeconds }),
        .make("kvm.agentConnectTimeoutSeconds", .seconds(above: 0, upTo: 3600), default: "5", sample: "2",
              "agent connect timeout (s)",
              set: { $0.configuration.kvm.agentConnectTimeoutSeconds = $1 },
              get: { $0.configuration.kvm.agentConnectTimeoutSeconds }),
        .make("kvm.vmSyncOnHostPing", .bool, default: "true", sample: "false", runtime: true,
              "VM sync after each good ping (`kvm.vmSyncOnHostPing`)",
              set: { $0.configuration.kvm.vmSyncOnHostPing = $1 }, get: { $0.configuration.kvm.vmSyncOnHostPing }),
        .make("kvm.orphanedVmSkipTimeoutSeconds", .integer(1...Int(Int32.max)), default: "600", sample: "120",
              runtime: true, "orphan skip TTL, whole seconds > 0 (`kvm.orphanedVmSkipTimeout`)",
              set: { $0.configuration.kvm.orphanedVmSkipTimeoutSeconds = $1 },
              get: { $0.configuration.kvm.orphanedVmSkipTimeoutSeconds }),
        .make("kvm.vmTracerOn", .bool, default: "true", sample: "false", runtime: true,
              "VM tracer on (`VM_TRACER_ON`)",
              set: { $0.configuration.kvm.vmTracerOn = $1 }, get: { $0.configuration.kvm.vmTracerOn }),
        .make("kvm.vmAddressRecording", .bool, default: "true", sample: "false", runtime: true,
              "record device addresses (`vm.enable.vm.address.recording`)",
              set: { $0.configuration.kvm.vmAddressRecording = $1 }, get: { $0.configuration.kvm.vmAddressRecording }),
    ]

    private static let zbsSettings: [SettingDeclaration] = [
        .make("zbs.mdsConnectTimeoutSeconds", .seconds(above: 0, upTo: 3600), default: "30", sample: "3",
              "MDS attempt: connect timeout (s)",
              set: { $0.configuration.zbs.mdsConnectTimeoutSeconds = $1 },
              get: { $0.configuration.zbs.mdsConnectTimeoutSeconds }),
        .make("zbs.mdsAttemptTimeoutSeconds", .seconds(above: 0, upTo: 3600), default: "30", sample: "6",
              "MDS attempt: whole deadline (s)",
              set: { $0.configuration.zbs.mdsAttemptTimeoutSeconds = $1 },
              get: { $0.configuration.zbs.mdsAttemptTimeoutSeconds }),
        .make("zbs.mdsFailureMemorySeconds", .seconds(above: 0, inclusive: true, upTo: 86400), default: "60",
              sample: "5", "MDS failure memory (s): a failed MDS is tried last meanwhile",
              set: { $0.configuration.zbs.mdsFailureMemorySeconds = $1 },
              get: { $0.configuration.zbs.mdsFailureMemorySeconds }),
        .make("zbs.mdsConcurrencyPerMds", .integer(1...1024), default: "8", sample: "2", "concurrent calls per MDS",
              set: { $0.configuration.zbs.mdsConcurrencyPerMds = $1 },
              get: { $0.configuration.zbs.mdsConcurrencyPerMds }),
        .make("zbs.mdsAgentPort", .integer(1...65535), default: "7763", sample: "7764", "MDS agent port",
              set: { $0.configuration.zbs.mdsAgentPort = $1 }, get: { $0.configuration.zbs.mdsAgentPort }),
    ]

    private static let logging: [SettingDeclaration] = [
        .make("logLevel",
              ValueParser.string.checked(
                  "one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))",
                  { Logger.Level(rawValue: $0.lowercased()) != nil }),
              default: "info", sample: "debug", flag: "--log-level", flagNote: "all commands",
              override: { $0.logLevel },
              "log level (trace, debug, info, notice, warning, error, critical; anything else is refused)",
              set: { $0.configuration.logLevel = $1 }, get: { $0.configuration.logLevel }),
        .make("logFormat", .choice(LogFormat.self), default: "text", sample: "json",
              "log format: `text`, or `json` (one object per line: `time`, `level`, `label`, `source`, `message`, "
                + "then the metadata keys sorted)",
              set: { $0.configuration.logFormat = $1 }, get: { $0.configuration.logFormat }),
    ]
}
