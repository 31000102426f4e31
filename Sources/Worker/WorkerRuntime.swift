import AgentHTTP
import CloudBus
import Foundation
import Inventory
import KVM
import Logging
import ServiceLifecycle
import Synchronization

/// Wires the parts of a running worker: store, agent-callback HTTP server, handlers, bus worker.
/// Services stop in reverse order: the bus worker drains first, then the HTTP server.
public struct WorkerRuntime: Sendable {
    public let worker: BusWorker
    public let inventory: any InventoryBackend
    public let callbackServer: CallbackServer
    /// `/metrics`, `/livez`, `/readyz` on `admin.host:admin.port`.
    public let admin: AdminServer
    public let agentCaller: AgentCaller
    /// The hash ring as this worker sees it (itself, configured `ringNodes`, lifecycle events).
    public let membership: ClusterMembership
    /// Settings an operator may change while the worker runs.
    public let settings: RuntimeSettings
    /// Which VMs in-flight operations own (of live nodes, and orphans of departed ones), persisted in the inventory.
    public let skipRegistry: SkipRegistry
    private let backgroundServices: [any Service]
    /// The fleet's membership (nil on a worker alone, on SQLite).
    public let fleet: FleetMembership?

    public var httpPort: Int { callbackServer.port }
    /// The admin listener's port, once it listens (it starts with the services).
    public func adminPort() async throws -> Int { try await admin.port() }
    /// In start order; a service group stops them in reverse: the fleet membership first (it publishes this
    /// worker's NodeLeft while the bus worker can still publish), then the bus worker drains, then the background
    /// work, the admin listener (it answers probes until then: `/readyz` says draining), the callback server, and
    /// last the store.
    public var services: [any Service] {
        [StoreService(store: inventory), CallbackServerService(server: callbackServer), admin] + backgroundServices
            + [worker]
            + (fleet.map { [$0] } ?? [])
    }

    /// Opens the store under `dataDirectory`, binds the HTTP server, and builds the handlers.
    /// `extraHandlers` lets tests add handlers (e.g. a deliberately hanging one).
    public static func start(configuration: WorkerConfiguration, logger: Logger,
                             extraHandlers: (inout HandlerTable) -> Void = { _ in }) async throws -> WorkerRuntime {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let nodeValue = try NodeIdentity.resolve(configured: configuration.nodeUUID, directory: configuration.dataDirectory)
        guard let node = NodeUUID(nodeValue) else { throw ConfigurationError.invalidValue(name: "nodeUuid", value: nodeValue) }
        let inventory = try await WorkerStoreOpener.open(configuration, owner: node.rawValue, logger: logger)
        do {
            return try await start(configuration: configuration, node: node, inventory: inventory, logger: logger,
                                   extraHandlers: extraHandlers)
        } catch {
            await inventory.close()
            throw error
        }
    }

    private static func start(configuration: WorkerConfiguration, node: NodeUUID, inventory: any InventoryBackend,
                              logger: Logger, extraHandlers: (inout HandlerTable) -> Void) async throws
        -> WorkerRuntime
    {
        let metrics = WorkerMetrics()
        let workerSlot = WorkerSlot()
        let callbackServer = try await CallbackServer.start(
            configuration: .init(host: configuration.httpHost, port: configuration.httpPort,
                                 publicCallbackURL: configuration.publicCallbackURL),
            logger: logger)
        // Ready means consuming, connected, not blocked by a broker alarm, the store answering and not draining: a
        // deployment (or `make run`) may send work while it says ok.
        let admin = AdminServer(host: configuration.adminHost, port: configuration.adminPort, metrics: metrics,
                                readiness: { workerSlot.readiness }, logger: logger)
        let agentClient = AgentHTTPClient()
        let caller = AgentCaller(client: agentClient, callbackServer: callbackServer,
                                 defaultConnectTimeout: .seconds(configuration.kvm.agentConnectTimeoutSeconds),
                                 metrics: metrics.factory)
        let settings = RuntimeSettings(configuration: configuration)
        let membership = ClusterMembership(selfNode: node,
                                           otherNodes: configuration.ringNodes.compactMap(NodeUUID.init(rawValue:)))
        var handlers = HandlerTable()
        handlers.register(SettingUpdateHandler(
            settings: settings.all, trusted: TrustedSenders(nodes: Set(configuration.trustedSenders))))
        let kvm: KVMWiring
        do {
            kvm = try await KVMWiring.register(
                into: &handlers, inventory: inventory, caller: caller, configuration: configuration.kvm,
                settings: settings, membership: membership, metrics: metrics.factory, logger: logger)
        } catch {
            await callbackServer.shutdown()
            throw error
        }
        if Self.tracerVerdictsMayBeUnroutable(configuration) {
            logger.warning("""
                this worker serves host but not vmInstance while the VM tracer is on: its VM state verdicts go to \
                the workers' vmInstance queues; serve vmInstance on the fleet's workers or turn the tracer off \
                (kvm.vmTracerOn)
                """, metadata: ["services": "\(configuration.services.joined(separator: ","))"])
        }
        ZBSWiring.register(into: &handlers, inventory: inventory, caller: caller, settings: configuration.zbs,
                           metrics: metrics.factory, logger: logger)
        extraHandlers(&handlers)
        // With a shared store the ring is the store's live members; alone (SQLite) it stays `ringNodes` + itself.
        let fleet = configuration.store == nil ? nil : FleetMembership(
            store: inventory, membership: membership, services: configuration.services,
            settings: configuration.membership, metrics: metrics, logger: logger)
        let subscribers: [any CanonicalEventSubscriber] = kvm.subscribers
            + (fleet.map { [WorkerLifecycleSubscriber(membership: $0, selfNode: node, logger: logger)] } ?? []) + [
            GlobalConfigSubscriber(settings: settings.all) { refused in
                logger.warning("global config update refused", metadata: ["error": "\(refused)"])
            },
        ]
        let worker = BusWorker(configuration: configuration, node: node, handlers: handlers, logger: logger,
                               metrics: metrics, eventSubscribers: subscribers, store: inventory,
                               fleet: fleet?.hooks,
                               handlerExecutors: EventLoopTaskExecutor.all(of: agentClient.eventLoopGroup))
        workerSlot.set(worker)
        fleet?.attach(worker)
        return WorkerRuntime(worker: worker, inventory: inventory, callbackServer: callbackServer, admin: admin,
                             agentCaller: caller,
                             membership: membership, settings: settings, skipRegistry: kvm.registry,
                             backgroundServices: kvm.services, fleet: fleet)
    }

    /// The tracer addresses its verdicts to `vmInstance.<ring owner>` among the workers: a worker that traces hosts
    /// but does not serve vmInstance itself suggests a fleet where those queues do not exist, and every verdict
    /// would be dead-lettered (NO_ROUTE). Said once at start.
    public static func tracerVerdictsMayBeUnroutable(_ configuration: WorkerConfiguration) -> Bool {
        configuration.kvm.vmTracerOn && configuration.services.contains(ServiceID.hostService)
            && !configuration.services.contains(ServiceID.vmInstanceService)
    }

    public static func inventoryPath(dataDirectory: String) -> String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("inventory.sqlite").path
    }
}

/// The callback server as a lifecycle service: serves until graceful shutdown.
struct CallbackServerService: Service {
    let server: CallbackServer

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await server.run() }
    }
}

/// Lets the admin routes, created before the worker, ask it whether it is ready.
final class WorkerSlot: Sendable {
    private let worker = Mutex<BusWorker?>(nil)

    func set(_ value: BusWorker) { worker.withLock { $0 = value } }
    var readiness: (ready: Bool, reason: String) {
        guard let worker = worker.withLock({ $0 }) else { return (false, BusWorker.Health.starting.rawValue) }
        return (worker.health == .ready, worker.healthReport)
    }
}
