import AgentHTTP
import NIOCore
import NIOPosix

/// A listening socket on 127.0.0.1 that never calls `accept()` and whose tiny accept queue is kept full: a host
/// so overloaded (or a SYN-dropping firewall) that new TCP connections are never established. A client's connect
/// hangs until its connect timeout.
///
/// How: the socket listens with backlog 0 and auto-read off (so NIO never accepts), then ``start(eventLoopGroup:)``
/// opens filler connections until one of them does not complete — from then on the kernel drops further SYNs
/// (Linux: accept queue full ⇒ SYN dropped, with the default `tcp_abort_on_overflow=0`).
public final class NeverAcceptingListener: Sendable {
    public let port: Int
    private let serverChannel: any Channel
    private let fillers: [any Channel]

    /// `127.0.0.1:<port>`.
    public var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port) }

    private init(port: Int, serverChannel: any Channel, fillers: [any Channel]) {
        self.port = port
        self.serverChannel = serverChannel
        self.fillers = fillers
    }

    /// Binds, then fills the accept queue (this takes one filler connect timeout, `probeTimeout`).
    /// Throws if the queue could not be filled with `maxFillers` connections.
    public static func start(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        probeTimeout: Duration = .milliseconds(200),
        maxFillers: Int = 16
    ) async throws -> NeverAcceptingListener {
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 0)
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw ChannelError.unknownLocalAddress
        }
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        var fillers: [any Channel] = []
        for _ in 0..<maxFillers {
            do {
                let filler = try await ClientBootstrap(group: eventLoopGroup)
                    .connectTimeout(TimeAmount(probeTimeout))
                    .channelOption(.autoRead, value: false)
                    .connect(to: address)
                    .get()
                fillers.append(filler)
            } catch ChannelError.connectTimeout {
                return NeverAcceptingListener(port: port, serverChannel: channel, fillers: fillers)
            } catch {
                for filler in fillers { try? await filler.close() }
                try? await channel.close()
                throw error
            }
        }
        for filler in fillers { try? await filler.close() }
        try? await channel.close()
        throw FillError(port: port, fillers: maxFillers)
    }

    /// Closes the filler connections and the listening socket.
    public func close() async {
        for filler in fillers { try? await filler.close() }
        try? await serverChannel.close()
    }

    /// The kernel kept completing connections although nobody accepts them.
    public struct FillError: Error, CustomStringConvertible {
        public var port: Int
        public var fillers: Int
        public var description: String {
            "127.0.0.1:\(port): accept queue still not full after \(fillers) connections"
        }
    }
}
