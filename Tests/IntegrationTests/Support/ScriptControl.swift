import Foundation
import Glibc

/// Runs one of the project's control scripts (`postgres.sh`, `broker-cluster.sh`) and waits for it, with posix_spawn
/// and waitpid rather than Foundation's `Process`: its `waitUntilExit` was seen to miss the exit of a script that
/// leaves a daemon running (a grandchild) and wait forever.
enum ScriptControl {
    struct Failed: Error, CustomStringConvertible {
        let script: String
        let arguments: [String]
        let status: Int32
        var description: String {
            "\((script as NSString).lastPathComponent) \(arguments.joined(separator: " ")) exited \(status)"
        }
    }

    static func run(_ script: String, _ arguments: [String]) throws {
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
            throw Failed(script: script, arguments: arguments, status: -1)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else { throw Failed(script: script, arguments: arguments, status: exited ? code : -1) }
    }
}
