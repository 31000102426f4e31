import ArgumentParser
import CommandOptions
import Foundation
import Inventory
import Logging
import Worker

struct InventoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory", abstract: "Manage the worker's store of hosts and VMs.",
        subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upsert hosts and VMs from a JSON file ({\"hosts\":[…],\"vms\":[…]}); all or nothing.")

        @Argument(help: "Inventory JSON file. Written to the configured store: store.url / CLOUDBUS_STORE_URL (PostgreSQL), else the SQLite file in the data directory.")
        var file: String

        @Option(help: "The worker's data directory (env CLOUDBUS_DATA_DIR; default .data/worker).")
        var dataDir: String?

        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var overrides = WorkerConfiguration.Overrides()
            overrides.dataDirectory = dataDir
            let configuration = try connection.resolve(overrides)
            Logs.bootstrap(level: connection.logLevel ?? "warning")
            // The import writes no outbox rows: the owner it names is never read.
            let store = try await WorkerStoreOpener.open(
                configuration, owner: "inventory-import", logger: Logger(label: "cloudbus-worker.inventory"))
            do {
                let summary = try await InventoryImport.importFile(atPath: file, into: store)
                await store.close()
                print("imported \(file) into \(store.location): \(summary)")
            } catch {
                await store.close()
                throw ValidationError("\(error)")
            }
        }
    }
}
