import AgentHTTP
import Inventory
import Logging

/// Registers the KVM handlers with their settings.
enum KVMWiring {
    static func register(into table: inout HandlerTable, inventory: SQLiteInventory, caller: AgentCaller,
                         settings: WorkerConfiguration.KVMSettings, logger: Logger) {
        // PingHostHandler lands with the KVM module.
    }
}
