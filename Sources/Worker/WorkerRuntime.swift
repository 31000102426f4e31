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
    /// In start order; a service group stops them in reverse: the fleet membership first (it publishes this
    /// worker's NodeLeft while the bus worker can still publish), then the bus worker drains, then the background
    /// work, the HTTP server, and last the store.
    public var services: [any Service] {
        [StoreService(store: inventory), CallbackServerService(server: callbackServer)] + backgroundServices + [worker]
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
                                 publicCallbackURL: configuration.publicCallbackURL,
                                 getRoutes: [
                                     // Ready means consuming, connected and not blocked by a broker alarm: a
                                     // deployment (or `make run`) may send work while it says ok.
                                     "/healthz": {
                                         let health = workerSlot.health
                                         return .init(status: health == .ready ? 200 : 503, body: health.rawValue)
                                     },
                                     "/metrics": {
                                         .init(status: 200, body: metrics.prometheusText() + workerSlot.connectionMetrics)
                                     },
                                 ]),
            logger: logger)
        let caller = AgentCaller(client: AgentHTTPClient(), callbackServer: callbackServer,
                                 defaultConnectTimeout: .seconds(configuration.kvm.agentConnectTimeoutSeconds))
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
                settings: settings, membership: membership, counters: metrics, logger: logger)
        } catch {
            await callbackServer.shutdown()
            throw error
        }
        ZBSWiring.register(into: &handlers, inventory: inventory, caller: caller, settings: configuration.zbs,
                           logger: logger)
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
                               fleet: fleet?.hooks)
        workerSlot.set(worker)
        fleet?.attach(worker)
        return WorkerRuntime(worker: worker, inventory: inventory, callbackServer: callbackServer, agentCaller: caller,
                             membership: membership, settings: settings, skipRegistry: kvm.registry,
                             backgroundServices: kvm.services, fleet: fleet)
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

/// Lets the HTTP routes, created before the worker, ask it whether it is ready.
final class WorkerSlot: Sendable {
    private let worker = Mutex<BusWorker?>(nil)

    func set(_ value: BusWorker) { worker.withLock { $0 = value } }
    var health: BusWorker.Health { worker.withLock { $0?.health ?? .starting } }
    var connectionMetrics: String { worker.withLock { $0?.connectionMetricsText() ?? "" } }
}
