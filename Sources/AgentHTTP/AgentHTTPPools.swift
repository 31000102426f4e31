import AsyncHTTPClient
import NIOCore
import NIOPosix
import Synchronization

/// The async-http-client `HTTPClient`s behind every ``AgentHTTPClient`` of the process: one per event loop group,
/// connect timeout and pool shape (idle timeout, connections per agent), each with its own pool of kept-alive
/// connections per agent. The response limit is per call, so it does not make clients.
///
/// Why per connect timeout: async-http-client sets the connect timeout per client, not per request. Callers pass a
/// handful of configured values (`kvm.*.connectTimeout`, `zbs.mds.connectTimeout`); a connect timeout no shorter
/// than the call's budget is dropped before it gets here (the deadline bounds that call), so values computed per
/// call do not reach the cache. Past ``maxClients`` distinct keys, further connect timeouts are not honoured
/// separately either: those calls go to the deadline-only client (documented there, never expected in practice).
///
/// Why they live for the process, like `HTTPClient.shared`: an ``AgentHTTPClient`` is a value copied into every
/// handler, with no owner that outlives them all to shut a client down, and an `HTTPClient` released without
/// `shutdown()` traps in debug builds. Kept for the process, nothing has to be shut down: idle connections close
/// after ``AgentHTTPClient/Configuration/idleTimeout``, open ones close with the process. The cached clients never
/// touch an event loop group before a call, and a group given by a caller is kept alive with its client (so its
/// identity, the cache key, cannot be reused by another group).
final class AgentHTTPPools: Sendable {
    static let shared = AgentHTTPPools()

    /// Distinct clients at most; beyond, calls use the deadline-only client of their group and pool shape.
    static let maxClients = 32
    /// The connect timeout of the deadline-only client: longer than any call's budget, so the deadline ends a
    /// slow connect first (the connect attempt itself is then abandoned by the pool, not waited for).
    static let deadlineOnlyConnectTimeout: Duration = .seconds(3_600)

    private struct Key: Hashable {
        var group: ObjectIdentifier
        /// nil: the deadline-only client.
        var connectTimeout: Duration?
        var idleTimeout: Duration
        var maxConnectionsPerAgent: Int
    }

    private struct Entry: Sendable {
        var group: any EventLoopGroup
        var client: HTTPClient
    }

    private let clients = Mutex<[Key: Entry]>([:])

    /// The client for calls with `connectTimeout` (nil: bounded by their deadline alone), made on first use.
    func client(
        eventLoopGroup: any EventLoopGroup, connectTimeout: Duration?, configuration: AgentHTTPClient.Configuration
    ) -> HTTPClient {
        var key = Key(
            group: ObjectIdentifier(eventLoopGroup), connectTimeout: connectTimeout,
            idleTimeout: configuration.idleTimeout, maxConnectionsPerAgent: configuration.maxConnectionsPerAgent)
        return clients.withLock { clients in
            if let entry = clients[key] { return entry.client }
            if clients.count >= Self.maxClients {
                key.connectTimeout = nil
                if let entry = clients[key] { return entry.client }
            }
            let client = Self.makeClient(eventLoopGroup, connectTimeout: key.connectTimeout, configuration)
            clients[key] = Entry(group: eventLoopGroup, client: client)
            return client
        }
    }

    private static func makeClient(
        _ group: any EventLoopGroup, connectTimeout: Duration?, _ configuration: AgentHTTPClient.Configuration
    ) -> HTTPClient {
        var settings = HTTPClient.Configuration()
        settings.redirectConfiguration = .disallow
        settings.timeout = .init(connect: TimeAmount(connectTimeout ?? deadlineOnlyConnectTimeout))
        settings.connectionPool = .init(
            idleTimeout: TimeAmount(configuration.idleTimeout),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnectionsPerAgent)
        // No hidden retries: a failed connect fails its calls now, as the hand-written client did.
        settings.connectionPool.retryConnectionEstablishment = false
        settings.httpVersion = .http1Only
        settings.decompression = .disabled
        if group === MultiThreadedEventLoopGroup.singleton {
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
        }
        return HTTPClient(eventLoopGroupProvider: .shared(group), configuration: settings)
    }
}
