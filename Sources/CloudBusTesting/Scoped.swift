import AgentHTTP
import Logging

// Scoped test resources, in the style of hummingbird's `app.test { client in }`: each `with…` starts a resource,
// hands it to `body`, and stops it on every exit path — a failed `#require` or a thrown error included — so no
// test leaks a listener, an agent or a worker into the suites running beside it.

/// Runs `body`, then `teardown`, whether `body` returned or threw (Swift has no `async defer`).
public func withTeardown<T>(
    _ teardown: () async -> Void, _ body: () async throws -> T
) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await teardown()
        throw error
    }
    await teardown()
    return result
}

/// Starts a resource, runs `body` with it, and stops it on every exit path.
public func withResource<Resource, T>(
    _ start: () async throws -> Resource, stop: (Resource) async -> Void, _ body: (Resource) async throws -> T
) async throws -> T {
    let resource = try await start()
    return try await withTeardown({ await stop(resource) }) { try await body(resource) }
}

extension Logger {
    /// A logger that writes nothing: for the code under test, whose log lines would only bury the test output.
    public static let quiet = Logger(label: "cloudbus-tests", factory: { _ in SwiftLogNoOpLogHandler() })
}

extension CallbackServer {
    /// A callback server on 127.0.0.1 for the duration of `body`.
    public static func withRunning<T>(
        configuration: Configuration = .init(), logger: Logger = .quiet, _ body: (CallbackServer) async throws -> T
    ) async throws -> T {
        try await withResource({ try await start(configuration: configuration, logger: logger) },
                               stop: { await $0.shutdown() }, body)
    }
}

extension FakeKVMAgent {
    /// A fake kvmagent on 127.0.0.1 for the duration of `body`.
    public static func withRunning<T>(
        configuration: Configuration = .init(), logger: Logger = .quiet, _ body: (FakeKVMAgent) async throws -> T
    ) async throws -> T {
        try await withResource({ try await start(configuration: configuration, logger: logger) },
                               stop: { await $0.shutdown() }, body)
    }
}

extension FakeMDSAgent {
    /// A fake ZBS MDS agent on 127.0.0.1 for the duration of `body`.
    public static func withRunning<T>(
        configuration: Configuration = .init(), logger: Logger = .quiet, _ body: (FakeMDSAgent) async throws -> T
    ) async throws -> T {
        try await withResource({ try await start(configuration: configuration, logger: logger) },
                               stop: { await $0.shutdown() }, body)
    }
}

/// What a KVM handler needs to reach a host agent, all on loopback: the worker's callback server, a fake kvmagent
/// and an `AgentCaller` between them.
public struct LoopbackKVMAgent: Sendable {
    public let server: CallbackServer
    public let agent: FakeKVMAgent
    public let caller: AgentCaller

    /// Starts the server and the agent, runs `body`, and shuts both down on every exit path.
    /// - Parameter connectTimeout: the caller's default connect timeout (loopback connects at once; the bound
    ///   only matters for tests that point a host at a peer that never accepts).
    public static func with<T>(
        serverConfiguration: CallbackServer.Configuration = .init(), connectTimeout: Duration = .seconds(2),
        logger: Logger = .quiet, _ body: (LoopbackKVMAgent) async throws -> T
    ) async throws -> T {
        try await CallbackServer.withRunning(configuration: serverConfiguration, logger: logger) { server in
            try await FakeKVMAgent.withRunning(logger: logger) { agent in
                let caller = AgentCaller(
                    client: AgentHTTPClient(), callbackServer: server, defaultConnectTimeout: connectTimeout)
                return try await body(LoopbackKVMAgent(server: server, agent: agent, caller: caller))
            }
        }
    }
}

/// Polls `condition` every `interval` until it holds or `limit` passes; returns whether it held. For effects that
/// follow a call asynchronously (a late callback dropped, a counter bumped by another task): callers `#expect` on
/// the result, and nothing is asserted about how long it took. The default bound is long (60 s) because it only
/// matters when the condition never holds: the test process can stall for ~12 s on this 2-core machine as hundreds of
/// tests start at once, and a 10 s bound failed tests whose subject was fine.
public func eventually(
    within limit: Duration = .seconds(60), every interval: Duration = .milliseconds(10), _ condition: () -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: interval)
    }
    return condition()
}
