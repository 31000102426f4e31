import Foundation
import Inventory
import InventoryPostgres
import Logging
import ServiceLifecycle

/// Opens the store a configuration names: the shared PostgreSQL store when `store.url` is set, otherwise the
/// embedded SQLite file in the data directory. Everything above this sees an `any InventoryBackend`.
public enum WorkerStoreOpener {
    /// - Parameter owner: the node whose outbox rows the store reads and writes (the worker's node id).
    /// - Throws: ``InventoryError`` naming the file or the database URL (never its password).
    public static func open(_ configuration: WorkerConfiguration, owner: String, logger: Logger) async throws
        -> any InventoryBackend
    {
        if let settings = configuration.store {
            logger.info("opening the shared store", metadata: ["store": "\(settings.location)"])
            return try await PostgresInventory.open(settings, owner: owner, logger: logger)
        }
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        return try SQLiteInventory(path: WorkerRuntime.inventoryPath(dataDirectory: configuration.dataDirectory))
    }
}

/// Keeps the store open while the worker runs and closes it last: it is the first service of the group, so it
/// stops after the bus worker drained (its last acks need the store).
struct StoreService: Service {
    let store: any InventoryBackend

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
