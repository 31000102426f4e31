import AgentHTTP
import CloudBus
import Inventory
import KVM
import Logging

/// Registers the KVM handlers with the settings of the configuration (ZStack names in `KVMSettings`).
enum KVMWiring {
    static func register(into table: inout HandlerTable, inventory: SQLiteInventory, caller: AgentCaller,
                         settings: WorkerConfiguration.KVMSettings, membership: ClusterMembership, logger: Logger) {
        let ping = PingSettings(
            timeout: .milliseconds(Int(settings.pingTimeoutSeconds * 1000)),
            maxFailure: settings.pingMaxFailure,
            sleepAfterFailure: .milliseconds(Int(settings.pingSleepAfterFailureSeconds * 1000)),
            connectTimeout: .milliseconds(Int(settings.agentConnectTimeoutSeconds * 1000)))
        table.register(PingHostHandler(hosts: inventory, caller: caller, settings: ping, membership: membership,
                                       logger: logger))
        table.register(ReconnectHostHandler(hosts: inventory, caller: caller, settings: ping, logger: logger))
    }
}
