import AgentHTTP
import NIOCore
import NIOPosix
import Synchronization

/// A listener on 127.0.0.1 that completes TCP connections but never reads from them nor answers: an agent whose
/// process is alive but wedged. A client connects fine and then waits for a response that never comes, so only
/// its deadline ends the call.
public final class SilentLoopbackListener: Sendable {
    public let port: Int
    private let serverChannel: any Channel
    private let accepted: Box

    /// `127.0.0.1:<port>`.
    public var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port) }

    private init(port: Int, serverChannel: any Channel, accepted: Box) {
        self.port = port
        self.serverChannel = serverChannel
        self.accepted = accepted
    }

    public static func start(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SilentLoopbackListener {
        let accepted = Box()
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { child in
                accepted.channels.withLock { $0.append(child) }
                return child.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw ChannelError.unknownLocalAddress
        }
        return SilentLoopbackListener(port: port, serverChannel: channel, accepted: accepted)
    }

    /// Connections accepted so far (still open or not).
    public var acceptedCount: Int { accepted.channels.withLock { $0.count } }

    /// Closes the listener and every accepted connection.
    public func close() async {
        try? await serverChannel.close()
        for child in accepted.channels.withLock({ $0 }) {
            try? await child.close()
        }
    }

    private final class Box: Sendable {
        let channels = Mutex<[any Channel]>([])
    }
}
