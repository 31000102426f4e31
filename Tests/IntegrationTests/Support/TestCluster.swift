import AMQP
import Foundation

/// The three-node RabbitMQ cluster `make test` starts (`scripts/broker-cluster.sh`): its URLs
/// (`CLOUDBUS_TEST_CLUSTER_URLS`, comma separated, node 1 first) and its control script (`CLOUDBUS_CLUSTER_CTL`).
/// The cluster tests declare quorum queues, so they run there and never on the single test broker (whose shared
/// dead-letter queue is classic).
enum TestCluster {
    static var urls: [String] {
        (ProcessInfo.processInfo.environment["CLOUDBUS_TEST_CLUSTER_URLS"] ?? "")
            .split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }

    /// Whether the cluster suites run: when the cluster is configured, and always in CI (`CI=true`), where a missing
    /// cluster must fail them rather than skip them.
    static var available: Bool {
        (urls.count == 3 && ProcessInfo.processInfo.environment["CLOUDBUS_CLUSTER_CTL"] != nil)
            || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    struct NotConfigured: Error, CustomStringConvertible {
        var description: String { "CLOUDBUS_TEST_CLUSTER_URLS does not list three nodes (make test sets it)" }
    }

    /// Node `number`'s URL (1…3).
    static func url(node number: Int) throws -> String {
        guard urls.count == 3, (1...3).contains(number) else { throw NotConfigured() }
        return urls[number - 1]
    }

    /// A connection to node `number` (1…3) alone.
    static func configuration(node number: Int) throws -> AMQPConfiguration {
        try AMQPConfiguration(url: url(node: number))
    }

    /// `broker-cluster.sh kill N` (kill -9 of the node's Erlang VM) and `restart N` (back in the cluster).
    static func kill(node number: Int) throws { try control(["kill", "\(number)"]) }
    static func restart(node number: Int) throws { try control(["restart", "\(number)"]) }

    private static func control(_ arguments: [String]) throws {
        guard let script = ProcessInfo.processInfo.environment["CLOUDBUS_CLUSTER_CTL"] else {
            throw ScriptControl.Failed(script: "CLOUDBUS_CLUSTER_CTL (not set)", arguments: arguments, status: -1)
        }
        try ScriptControl.run(script, arguments)
    }
}
