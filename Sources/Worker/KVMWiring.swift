import AgentHTTP
import CloudBus
import Inventory
import KVM
import Logging
import Metrics
import ServiceLifecycle

/// Builds the KVM side of the worker: host pings and reconnects, the VM tracer (sync after ping, skip/orphan
/// registry), the VM state handler with its split-brain guard, and device-info syncs. Settings use ZStack's names
/// (`WorkerConfiguration.KVMSettings`, live ones from ``RuntimeSettings``).
struct KVMWiring {
    /// Who reacts to canonical events, in the order they must see them: the skip registry first, so the
    /// lifecycle events it shares with the ring's membership are ordered with skip and continue events.
    let subscribers: [any CanonicalEventSubscriber]
    /// Background work that lives as long as the worker (the registry's periodic orphan cleanup).
    let services: [any Service]
    let registry: SkipRegistry

    /// - Parameter metrics: the worker's own factory; the KVM families (``KVMMetrics``) are created in it once, here.
    static func register(
        into table: inout HandlerTable, inventory: any InventoryBackend, caller: AgentCaller,
        configuration: WorkerConfiguration.KVMSettings, settings: RuntimeSettings, membership: ClusterMembership,
        metrics: any MetricsFactory, logger: Logger
    ) async throws -> KVMWiring {
        let connectTimeout = Duration.milliseconds(Int(configuration.agentConnectTimeoutSeconds * 1000))
        let ping = PingSettings(
            timeout: .milliseconds(Int(configuration.pingTimeoutSeconds * 1000)),
            maxFailure: configuration.pingMaxFailure,
            sleepAfterFailure: .milliseconds(Int(configuration.pingSleepAfterFailureSeconds * 1000)),
            connectTimeout: connectTimeout)
        let registry = try await SkipRegistry.open(
            ownNode: membership.selfNode.rawValue, timeout: settings.orphanedVmSkipTimeout, store: inventory,
            sharesStore: inventory.isShared, clock: ContinuousClock(), metrics: metrics, logger: logger)
        let tracerSettings = VmTracerSettings(
            syncOnPing: settings.vmSyncOnHostPing, tracerOn: settings.vmTracerOn, connectTimeout: connectTimeout)
        let tracer = VmTracer(
            vms: inventory, skips: registry, outbox: VmTracerOutbox(membership: membership),
            tracerOn: settings.vmTracerOn, metrics: metrics, logger: logger)
        let syncAfterPing = VmSyncAfterPing(selfNode: membership.selfNode, settings: tracerSettings)

        table.register(PingHostHandler(
            hosts: inventory, caller: caller, settings: ping, onPingSucceeded: syncAfterPing.onPingSucceeded,
            membership: membership, logger: logger))
        table.register(ReconnectHostHandler(hosts: inventory, caller: caller, settings: ping, logger: logger))
        table.register(VmSyncOnHostHandler(hosts: inventory, caller: caller, tracer: tracer, settings: tracerSettings,
                                           logger: logger))
        table.register(SyncVmDeviceInfoHandler(
            inventory: inventory, caller: caller,
            settings: DeviceInfoSettings(addressRecording: settings.vmAddressRecording, connectTimeout: connectTimeout),
            metrics: metrics, logger: logger))
        table.register(VmStateChangedOnHostHandler(
            vms: inventory, membership: membership, skips: registry,
            probe: AgentVmPresenceProbe(hosts: inventory, caller: caller, connectTimeout: connectTimeout),
            metrics: metrics, logger: logger))
        return KVMWiring(
            subscribers: [
                SkipRegistrySubscriber(registry: registry, logger: logger),
                VmFullStateChangeSubscriber(vms: inventory, membership: membership, hosts: inventory, logger: logger),
            ],
            services: [SkipRegistryCleanup(registry: registry)],
            registry: registry)
    }
}

/// The registry's periodic orphan cleanup (every 60 s) as a lifecycle service: runs while the worker runs and
/// stops with it.
struct SkipRegistryCleanup: Service {
    let registry: SkipRegistry

    func run() async throws {
        await cancelWhenGracefulShutdown { await registry.run() }
    }
}
