import NIOCore
import NIOPosix
import Synchronization

/// The ``AgentConnectionPool`` behind every ``AgentHTTPClient`` of the process: one per event loop group and pool
/// shape (idle timeout, connections per agent). Connect timeout and response limit are per call, so they do not
/// make pools.
///
/// Why they live for the process: an ``AgentHTTPClient`` is a value copied into every handler, with no owner that
/// outlives them all to close a pool. Nothing has to be shut down: idle connections close after the idle timeout,
/// open ones with the process. A group given by a caller is kept alive with its pool (so its identity, the cache
/// key, cannot be reused by another group). Bounded: past ``maxPools`` shapes (never expected: a worker configures
/// one), further clients get a pool of their own that is not cached.
final class AgentConnectionPools: Sendable {
    static let shared = AgentConnectionPools()
    static let maxPools = 32

    private struct Key: Hashable {
        var group: ObjectIdentifier
        var idleTimeout: Duration
        var maxConnectionsPerAgent: Int
    }

    private struct Entry: Sendable {
        var group: any EventLoopGroup
        var pool: AgentConnectionPool
    }

    private let pools = Mutex<[Key: Entry]>([:])

    /// The pool for clients on `eventLoopGroup` with `configuration`'s shape, made on first use.
    func pool(eventLoopGroup: any EventLoopGroup, configuration: AgentHTTPClient.Configuration) -> AgentConnectionPool {
        let key = Key(
            group: ObjectIdentifier(eventLoopGroup), idleTimeout: configuration.idleTimeout,
            maxConnectionsPerAgent: configuration.maxConnectionsPerAgent)
        return pools.withLock { pools in
            if let entry = pools[key] { return entry.pool }
            let pool = AgentConnectionPool(
                group: eventLoopGroup, idleTimeout: configuration.idleTimeout,
                maxConnectionsPerAgent: configuration.maxConnectionsPerAgent)
            if pools.count < Self.maxPools { pools[key] = Entry(group: eventLoopGroup, pool: pool) }
            return pool
        }
    }
}
