import AgentHTTP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Logging
import Primitives
import Testing

/// A real callback server, a real fake kvmagent and an in-memory inventory, wired over loopback and torn down on
/// every exit path. Hosts are stored pointing at the fake agent unless a test gives another port.
struct PingFixture {
    let server: CallbackServer
    let agent: FakeKVMAgent
    let caller: AgentCaller
    let inventory: SQLiteInventory


    /// Short enough for tests, long enough for a loaded machine (the whole suite runs in parallel on 2 cores,
    /// where one loopback round trip has been seen to take over a second): 1.5 s per attempt, 50 ms between.
    static let shortSettings = PingSettings(
        timeout: .milliseconds(1500), maxFailure: 3, sleepAfterFailure: .milliseconds(50),
        connectTimeout: .seconds(1))

    static let hostUuid = "1f2e3d4c5b6a79881f2e3d4c5b6a7988"
    static let otherHostUuid = "aaaabbbbccccddddeeeeffff00001111"

    static func with<T>(_ body: (PingFixture) async throws -> T) async throws -> T {
        let inventory = try SQLiteInventory.inMemory()
        return try await LoopbackKVMAgent.with { loopback in
            try await body(PingFixture(
                server: loopback.server, agent: loopback.agent, caller: loopback.caller, inventory: inventory))
        }
    }

    /// Stores a host whose agent is the fake agent (or `port`).
    @discardableResult
    func addHost(
        _ uuid: String = PingFixture.hostUuid, status: Inventory.HostStatus = .connected, port: Int? = nil
    ) async throws -> HostRecord {
        let host = HostRecord(uuid: uuid, managementIp: "127.0.0.1", agentPort: port ?? agent.port, status: status)
        try await inventory.upsertHosts([host])
        return host
    }

    func storedStatus(_ uuid: String = PingFixture.hostUuid) async throws -> Inventory.HostStatus? {
        try await inventory.host(uuid: uuid)?.status
    }

    func handler(
        settings: PingSettings = PingFixture.shortSettings,
        onPingSucceeded: (@Sendable (HostRecord) async -> [OutboundMessage])? = nil,
        membership: ClusterMembership? = nil,
        pauseAfterFailure: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) -> PingHostHandler {
        PingHostHandler(
            hosts: inventory, caller: caller, settings: settings, onPingSucceeded: onPingSucceeded,
            membership: membership, logger: Logger.quiet, pauseAfterFailure: pauseAfterFailure)
    }

    static let node = NodeUUID("5e1f00d5e1f00d5e1f00d5e1f00d5e1f")!

    /// An outbound message taken apart for assertions: where it goes and its envelope.
    struct Sent {
        var target: OutboundMessage.Target
        var className: String
        var fields: [String: JSONValue]
        var headers: [String: JSONValue]
    }

    static func decodeOutbound(_ message: OutboundMessage) throws -> Sent {
        guard case .object(let outer) = try JSONValue(parsing: message.body), outer.count == 1,
              let (className, inner) = outer.first, case .object(let fields) = inner else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not a one-key envelope"))
        }
        var headers: [String: JSONValue] = [:]
        if case .object(let members) = fields["headers"] ?? .null { headers = members }
        return Sent(target: message.target, className: className, fields: fields, headers: headers)
    }

    /// The fake agent's `/host/ping` requests so far.
    var pings: [FakeKVMAgent.RecordedRequest] { agent.receivedRequests(path: KVMAgentPing.path) }
}

/// A handler context whose deadline is `deadline` from now, as the worker builds it.
func context(deadline: Duration? = .seconds(10)) -> HandlerContext {
    HandlerContext(
        base: MessageBase(createdTime: EpochMillis.now()), deadline: deadline.map { .now + $0 }, redelivered: false)
}

/// Runs the handler and returns its reply as a `PingHostReply` (the test fails if it is anything else).
func ping(
    _ handler: PingHostHandler, host hostUuid: String = PingFixture.hostUuid, context: HandlerContext = context()
) async throws -> PingHostReply {
    let output = try await handler.handle(PingHostMsg(hostUuid: hostUuid), context: context)
    return try #require(output.reply as? PingHostReply)
}
