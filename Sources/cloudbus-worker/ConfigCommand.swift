import ArgumentParser
import CommandOptions
import Foundation
import Worker

/// `cloudbus-worker config check|table`: what the worker would run with, and the documentation of every setting.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Inspect the worker's configuration.",
        subcommands: [Check.self, Table.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load the configuration as `run` does and print every setting: key, value, source.",
            discussion: """
                Sources: default, file <path>, env CLOUDBUS_…, flag --…, file <variable or key>=<path> (a password \
                file), systemd credential <name>. Secrets, and passwords inside URLs, are shown as <redacted>.
                Exit status: 0 valid; 1 invalid, with the error on standard error.
                """)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var worker: WorkerFlags

        @Flag(help: "Print JSON: {\"settings\":[{key, value, source, environment, secret}, …]}.")
        var json = false

        func run() throws {
            let loaded: LoadedConfiguration
            do {
                loaded = try connection.load(worker.overrides)
            } catch {
                FileHandle.standardError.write(Data("cloudbus-worker config check: \(error)\n".utf8))
                throw ExitCode(1)
            }
            print(json ? loaded.json : loaded.text, terminator: "")
        }
    }

    struct Table: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the README's configuration table (Markdown), generated from the settings' declarations.")

        func run() {
            print(WorkerConfiguration.settingsTable, terminator: "")
        }
    }
}
