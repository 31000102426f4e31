import ArgumentParser

@main
struct CloudbusWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudbus-worker",
        abstract: "A worker on a ZStack-style cloud bus (RabbitMQ): KVM host messages, replies that are never lost.",
        subcommands: [Run.self, Publish.self, Declare.self, InventoryCommand.self, ConfigCommand.self],
        defaultSubcommand: Run.self)
}
