import ArgumentParser
import CloudBusTesting
import CommandOptions
import Logging

/// A KVM host-agent stand-in on loopback so the whole loop runs without real hosts: it speaks
/// the async protocol (accept, then POST the result to `callbackurl` with `taskuuid`).
struct SimulateAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-agent",
        abstract: "Run a KVM host-agent simulator on 127.0.0.1 (answers /host/ping, /vm/vmsync, /sync/vm/deviceinfo).")

    @Option(help: "Port to listen on (kvmagent's is 7070).")
    var port: Int = 7070

    @Option(help: "Log level.")
    var logLevel: String = "info"

    func run() async throws {
        Logs.bootstrap(level: logLevel)
        let logger = Logger(label: "simulate-agent")
        try await FakeKVMAgent.runSimulator(host: "127.0.0.1", port: port, logger: logger)
    }
}
