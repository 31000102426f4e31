import AgentHTTP
import Inventory
import Logging
import Metrics
import ZBS

/// Registers the ZBS primary-storage handlers (served on `storage.primary.<node>`) with the settings of the
/// configuration's `zbs` section. One ``MdsCaller`` — hence one failure memory and one per-MDS slot table — is
/// shared by every ZBS handler of the worker, and so are its MDS handles (``ZBSMetrics``), made in `metrics` once.
enum ZBSWiring {
    static func register(into table: inout HandlerTable, inventory: any InventoryBackend, caller: AgentCaller,
                         settings: WorkerConfiguration.ZBSSettings, metrics: any MetricsFactory, logger: Logger) {
        let mds = MdsCaller(
            caller: caller,
            settings: MdsCallSettings(
                connectTimeout: .milliseconds(Int(settings.mdsConnectTimeoutSeconds * 1000)),
                attemptTimeout: .milliseconds(Int(settings.mdsAttemptTimeoutSeconds * 1000)),
                concurrencyPerMds: settings.mdsConcurrencyPerMds),
            memory: MdsFailureMemory(window: .milliseconds(Int(settings.mdsFailureMemorySeconds * 1000))),
            metrics: metrics, logger: logger)
        let calls = ZbsStorageCalls(storages: inventory, caller: mds)
        table.register(UpdateZbsPrimaryStorageHandler(storages: inventory, defaultAgentPort: settings.mdsAgentPort))
        table.register(GetVolumeClientsHandler(calls: calls))
        table.register(CreateVolumeHandler(calls: calls))
        table.register(DeleteVolumeHandler(calls: calls))
        table.register(ExpandVolumeHandler(calls: calls))
        table.register(QueryVolumeHandler(calls: calls))
        table.register(CreateVolumeSnapshotsHandler(calls: calls))
        table.register(DeleteVolumeSnapshotHandler(calls: calls))
        table.register(RollbackVolumeSnapshotHandler(calls: calls))
        table.register(GetZbsCapacityHandler(calls: calls))
        table.register(CheckVolumeClientsBeforeStartVmHandler(calls: calls))
    }
}
