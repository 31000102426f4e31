import AMQP
import ArgumentParser
import CloudBus
import CloudBusAMQP
import CommandOptions
import Worker

struct Declare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Declare the bus exchanges (P2P, BROADCAST, NO_ROUTE) as ZStack does; with --node, also a worker's queues.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Also declare the queues of the worker with this node UUID.")
    var node: String?

    @Option(help: "Comma-separated services for --node (default: what `run` serves, host,vmInstance,storage.primary).")
    var services: String = WorkerConfiguration.defaultServices.joined(separator: ",")

    func run() async throws {
        let configuration = try connection.resolve()
        Logs.bootstrap(level: connection.logLevel ?? "warning")
        let amqp = AMQPConnection(configuration: configuration.amqp)
        try await amqp.start()
        if let node {
            guard let nodeUUID = NodeUUID(node) else { throw ValidationError("invalid node UUID \(node)") }
            let topology = BusTopology.worker(node: nodeUUID, services: services.split(separator: ",").map(String.init),
                                              queues: configuration.queueOptions)
            try await amqp.declare(topology)
            print("declared exchanges and queues: \(topology.queues.map(\.name).joined(separator: ", "))")
        } else {
            try await amqp.declare(Topology(exchanges: BusTopology.exchanges))
            print("declared exchanges: \(BusTopology.exchanges.map(\.name).joined(separator: ", "))")
        }
        await amqp.close()
    }
}
