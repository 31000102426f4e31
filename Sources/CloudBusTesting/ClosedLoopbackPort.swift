import AgentHTTP
import Glibc

/// A port on 127.0.0.1 with nothing listening: a dead agent on a live host. Connecting gets a TCP reset at once
/// (`connection refused`).
///
/// The port stays reserved while this value lives: it is a socket bound to the port that never listens, so no other
/// listener of a test running beside this one can take the port and answer in the dead agent's place (binding an
/// ephemeral port and closing it again left it free for the next bind — sometimes the very next fake agent's).
public final class ClosedLoopbackPort: Sendable {
    public let port: Int
    private let descriptor: Int32

    /// `127.0.0.1:<port>`.
    public var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port) }

    private init(port: Int, descriptor: Int32) {
        self.port = port
        self.descriptor = descriptor
    }

    deinit { Glibc.close(descriptor) }

    /// Binds a fresh ephemeral port on 127.0.0.1 and never listens on it.
    /// - Throws: ``ClosedLoopbackPortError`` with the `errno` of the failed call.
    public static func make() async throws -> ClosedLoopbackPort {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ClosedLoopbackPortError(call: "socket", errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            let failure = ClosedLoopbackPortError(call: "bind", errno: errno)
            Glibc.close(descriptor)
            throw failure
        }
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else {
            let failure = ClosedLoopbackPortError(call: "getsockname", errno: errno)
            Glibc.close(descriptor)
            throw failure
        }
        return ClosedLoopbackPort(port: Int(UInt16(bigEndian: address.sin_port)), descriptor: descriptor)
    }
}

/// A system call that failed while reserving a closed port.
public struct ClosedLoopbackPortError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32

    public var description: String { "\(call) failed: errno \(errno)" }
}
