import AgentHTTP
import NIOCore
import NIOPosix

/// A port on 127.0.0.1 with nothing listening: a dead agent on a live host. Connecting gets a TCP reset at once
/// (`connection refused`).
///
/// Obtained by binding an ephemeral port and closing it again. Nothing reserves the port afterwards, so in
/// principle another socket could take it; on loopback with the kernel's ephemeral range this is very unlikely
/// within one test.
public struct ClosedLoopbackPort: Sendable {
    public let port: Int

    /// `127.0.0.1:<port>`.
    public var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port) }

    public static func make(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ClosedLoopbackPort {
        let channel = try await ServerBootstrap(group: eventLoopGroup).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try await channel.close()
        guard let port else { throw ChannelError.unknownLocalAddress }
        return ClosedLoopbackPort(port: port)
    }
}
