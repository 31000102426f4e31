import ArgumentParser
import CommandOptions
import Foundation
import Inventory
import Worker

struct InventoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory", abstract: "Manage the worker's store of hosts and VMs.",
        subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upsert hosts and VMs from a JSON file ({\"hosts\":[…],\"vms\":[…]}); all or nothing.")

        @Argument(help: "Inventory JSON file.")
        var file: String

        @Option(help: "The worker's data directory (env CLOUDBUS_DATA_DIR; default .data/worker).")
        var dataDir: String?

        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            var overrides = WorkerConfiguration.Overrides()
            overrides.dataDirectory = dataDir
            let configuration = try connection.resolve(overrides)
            let store = try SQLiteInventory(path: try Self.prepare(configuration.dataDirectory))
            do {
                let summary = try await InventoryImport.importFile(atPath: file, into: store)
                print("imported \(file): \(summary)")
            } catch {
                throw ValidationError("\(error)")
            }
        }

        static func prepare(_ directory: String) throws -> String {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return WorkerRuntime.inventoryPath(dataDirectory: directory)
        }
    }
}
