import AMQP
import Foundation
import Glibc

/// The three-node RabbitMQ cluster `make test` starts (`scripts/broker-cluster.sh`): its URLs
/// (`CLOUDBUS_TEST_CLUSTER_URLS`, comma separated, node 1 first) and its control script (`CLOUDBUS_CLUSTER_CTL`).
/// The cluster tests declare quorum queues, so they run there and never on the single test broker (whose shared
/// dead-letter queue is classic).
enum TestCluster {
    static var urls: [String] {
        (ProcessInfo.processInfo.environment["CLOUDBUS_TEST_CLUSTER_URLS"] ?? "")
            .split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }

    static var available: Bool {
        urls.count == 3 && ProcessInfo.processInfo.environment["CLOUDBUS_CLUSTER_CTL"] != nil
    }

    /// A connection to node `number` (1…3) alone.
    static func configuration(node number: Int) throws -> AMQPConfiguration {
        try AMQPConfiguration(url: urls[number - 1])
    }

    /// `broker-cluster.sh kill N` (kill -9 of the node's Erlang VM) and `restart N` (back in the cluster).
    static func kill(node number: Int) throws { try control(["kill", "\(number)"]) }
    static func restart(node number: Int) throws { try control(["restart", "\(number)"]) }

    /// Runs the control script and waits for it (posix_spawn and waitpid, as `TestStore.control` does: Foundation's
    /// `Process` was seen to miss the exit of a script that leaves daemons running).
    private static func control(_ arguments: [String]) throws {
        guard let script = ProcessInfo.processInfo.environment["CLOUDBUS_CLUSTER_CTL"] else {
            throw ControlFailed(arguments: arguments, status: -1)
        }
        let argv = ["/bin/bash", script] + arguments
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/bash", &actions, nil, &cArguments, environ) == 0 else {
            throw ControlFailed(arguments: arguments, status: -1)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else { throw ControlFailed(arguments: arguments, status: exited ? code : -1) }
    }

    struct ControlFailed: Error, CustomStringConvertible {
        let arguments: [String]
        let status: Int32
        var description: String { "broker-cluster.sh \(arguments.joined(separator: " ")) exited \(status)" }
    }
}
