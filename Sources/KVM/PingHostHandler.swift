import AgentHTTP
import CloudBus
import Inventory
import KVMMessages
import Logging
import Primitives

/// Answers `org.zstack.header.host.PingHostMsg` for KVM hosts the way ZStack's `HostBase.handle(PingHostMsg)` and
/// `KVMHost.pingHook` do: is the host's agent alive and serving this host?
///
/// Outcomes (all but the first two are `PingHostReply`s):
/// - hostUuid not a ZStack uuid, or not in this worker's inventory: `BadRequest` (SYS.1007); the worker answers
///   with that error, dead-letters the message and acks it.
/// - The inventory cannot be read: its `InventoryError` is thrown (the worker answers SYS.1006).
/// - Host recorded Connecting: `success=false`, SYS.1006 "host[uuid:X] is connecting, ping failed".
/// - An attempt succeeds: `connected=true`, `currentHostStatus` = the stored status. A host recorded
///   Disconnected that answers again is *not* flipped here: ZStack's host tracker sees that combination and
///   reconnects the host.
/// - Every attempt fails: `success=true`, `connected=false`, `currentHostStatus=Disconnected`, `error` = the first
///   attempt's failure (SYS.1006) with the later attempts' failures as `causes`, `noReconnect=false` (true when the
///   host row vanished meanwhile, as in ZStack); the stored status becomes Disconnected and, when it was not
///   Disconnected already, `/host/disconnected` is fired (once per change, as ZStack's
///   `HostDisconnectedCanonicalEvent`).
/// - The agent answers for another host (scenario 49): no further attempt and no VM sync (ZStack skips the
///   ping extensions); the host becomes Disconnected (event as above) and `ReconnectHostMsg` goes to the `host`
///   service of the host's owner; the reply is `connected=false` with the mismatch as its error.
/// - Not even one attempt fits before the deadline: `success=false`, SYS.1001, stored status untouched (nothing
///   was learnt about the host).
///
/// An attempt fails on a transport failure or an agent `success=false`. Not reproduced: ZStack's reconnect when
/// the agent's version differs from the recorded one, and its configuration push when `sendCommandUrl` differs
/// (scenario 50): this inventory records neither.
///
/// Timing: at most ``PingSettings/maxFailure`` attempts with ``PingSettings/sleepAfterFailure`` between failures,
/// each cut to the time left before the message deadline minus a reserve for answering (see `PingBudget`);
/// retrying stops when the time is spent, so the sequence ends with a reply, not with the worker's timeout.
/// Cancellation (the worker cancels a handler at the message deadline) is never swallowed: `CancellationError`
/// propagates from the pause and the agent call, and no status is written after it.
public struct PingHostHandler: BusHandler {
    public typealias Message = PingHostMsg

    public let hosts: any HostStore
    public let agent: KVMAgentPing
    public let settings: PingSettings
    /// Called after a successful ping with the host as read for it; the messages it returns are published with
    /// the reply (before the delivery is acked). The worker wires the VM sync here (`VmSyncAfterPing`).
    ///
    /// This is where ZStack's `KVMPingAgentNoFailureExtensionPoint`s plug in, notably the VM sync after a ping
    /// (`kvm.vmSyncOnHostPing`). ZStack does not let the sync delay the ping's answer, so an observer should return
    /// a message that asks for the sync (handled later on the host's own key) rather than sync inline: it runs
    /// inside this message's deadline. It cannot fail the ping.
    public var onPingSucceeded: (@Sendable (HostRecord) async -> [OutboundMessage])?
    /// Who owns what on the hash ring and which node this worker is: where `ReconnectHostMsg` goes and who fires
    /// `/host/disconnected`. Nil (unit tests of the ping alone): neither is sent.
    public var membership: ClusterMembership?
    private let pauseAfterFailure: @Sendable (Duration) async throws -> Void
    private let logger: Logger

    /// - Parameters:
    ///   - hosts: where host addresses and statuses are read and the Disconnected status is written.
    ///   - caller: talks to the agents; its callback server must be running.
    ///   - pauseAfterFailure: waits between a failed attempt and the next; must throw `CancellationError` when the
    ///     task is cancelled. Default: `Task.sleep`. Tests wrap it to re-script the fake agent between attempts.
    public init(
        hosts: any HostStore,
        caller: AgentCaller,
        settings: PingSettings = PingSettings(),
        onPingSucceeded: (@Sendable (HostRecord) async -> [OutboundMessage])? = nil,
        membership: ClusterMembership? = nil,
        logger: Logger = Logger(label: "cloudbus.kvm.ping"),
        pauseAfterFailure: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.hosts = hosts
        self.agent = KVMAgentPing(caller: caller)
        self.settings = settings
        self.onPingSucceeded = onPingSucceeded
        self.membership = membership
        self.logger = logger
        self.pauseAfterFailure = pauseAfterFailure
    }

    public var expectsReply: Bool { true }

    /// Pings of one host run one at a time, in arrival order.
    public func resourceKey(for message: PingHostMsg) -> String { message.hostUuid }
    public func ownedResource(for message: PingHostMsg) -> String? { message.hostUuid }

    public func handle(_ message: PingHostMsg, context: HandlerContext) async throws -> HandlerOutput {
        let hostUuid = message.hostUuid
        guard ZStackUUID.isWellFormed(hostUuid) else {
            let details = "invalid hostUuid[\(hostUuid)]: \(ZStackUUID.rule)"
            throw BadRequest(SysError.invalidArgument.error(details), reason: "invalid-host-uuid: \(details)")
        }
        guard let host = try await hosts.host(uuid: hostUuid) else {
            let details = "host[uuid:\(hostUuid)] not found in this worker's inventory"
            throw BadRequest(SysError.invalidArgument.error(details), reason: "unknown-host: \(details)")
        }
        var logger = logger
        logger[metadataKey: "host"] = "\(hostUuid)"
        logger[metadataKey: "msg.id"] = "\(context.base.id)"

        if host.status == .connecting {
            return HandlerOutput(reply: PingHostReply(
                connected: false, currentHostStatus: .connecting, success: false,
                error: SysError.operationError.error("host[uuid:\(hostUuid)] is connecting, ping failed")))
        }

        let budget = PingBudget(context: context)
        var failures: [PingFailure] = []
        for attempt in 1...max(1, settings.maxFailure) {
            if attempt > 1 {
                guard let pause = budget.pauseBeforeRetry(settings: settings) else { break }
                try await pauseAfterFailure(pause)
            }
            guard let timeout = budget.nextAttempt(settings: settings) else { break }
            do {
                let response = try await agent.attempt(
                    host, attempt: attempt, timeout: timeout, connectTimeout: settings.connectTimeout)
                return await connected(host, response: response, after: failures, logger: logger)
            } catch let failure as PingFailure {
                logger.debug("ping attempt failed", metadata: ["attempt": "\(attempt)", "error": "\(failure)"])
                failures.append(failure)
                if case .hostUuidMismatch = failure.cause {
                    return try await disconnected(host, failures: failures, reconnect: true, logger: logger)
                }
            }
        }
        guard !failures.isEmpty else {
            logger.warning("no time left to ping the host before the message deadline")
            return HandlerOutput(reply: PingHostReply(
                connected: false, currentHostStatus: KVMMessages.HostStatus(rawValue: host.status.rawValue),
                success: false,
                error: SysError.timeout.error(
                    "no time left to ping host[uuid:\(hostUuid)] before the message deadline")))
        }
        return try await disconnected(host, failures: failures, reconnect: false, logger: logger)
    }

    private func connected(
        _ host: HostRecord, response: PingResponse, after failures: [PingFailure], logger: Logger
    ) async -> HandlerOutput {
        if !failures.isEmpty {
            logger.info("host answered after failed attempts", metadata: ["failedAttempts": "\(failures.count)"])
        }
        var output = HandlerOutput(reply: PingHostReply(
            connected: true, currentHostStatus: KVMMessages.HostStatus(rawValue: host.status.rawValue)))
        if let onPingSucceeded {
            output.messages = await onPingSucceeded(host)
        }
        return output
    }

    private func disconnected(
        _ host: HostRecord, failures: [PingFailure], reconnect: Bool, logger: Logger
    ) async throws -> HandlerOutput {
        var error = failures[0].errorCode
        if failures.count > 1 { error.causes = failures.dropFirst().map(\.errorCode) }
        let endpoint = KVMAgentPing.endpoint(of: host)
        var noReconnect = false
        var messages: [OutboundMessage] = []
        do {
            // `/host/disconnected` goes through the outbox with the status change: a redelivered ping finds the host
            // Disconnected already, so only the outbox can still announce it.
            let membership = membership, reason = error
            let (previous, announced) = try await hosts.updateHostStatus(
                uuid: host.uuid, to: .disconnected, outboxKey: host.uuid,
                messages: { previous in
                    guard previous != .disconnected, let membership else { return [] }
                    return [OutboxMessage(try .event(HostDisconnectedData(hostUuid: host.uuid, reason: reason),
                                                     from: membership.selfNode))]
                })
            messages += announced.map(OutboundMessage.init(outbox:))
            if previous != .disconnected {
                logger.warning(
                    "host disconnected: agent did not answer any ping",
                    metadata: ["endpoint": "\(endpoint)", "attempts": "\(failures.count)", "error": "\(failures[0])"])
            } else {
                logger.info("host still not answering", metadata: ["endpoint": "\(endpoint)"])
            }
        } catch let storeError as InventoryError {
            if case .notFound = storeError {
                // Deleted while we pinged: nothing left to reconnect, as ZStack answers for a vanished host row.
                noReconnect = true
            } else {
                // The ping's verdict stands; the next ping retries the write.
                logger.error(
                    "could not record the host as Disconnected", metadata: ["error": "\(storeError)"])
            }
        }
        if reconnect, !noReconnect, let membership {
            messages.append(try .oneWay(ReconnectHostMsg(hostUuid: host.uuid),
                                        to: membership.serviceID(ServiceID.hostService, for: host.uuid)))
        }
        return HandlerOutput(
            reply: PingHostReply(
                connected: false, currentHostStatus: .disconnected, noReconnect: noReconnect, success: true,
                error: error),
            messages: messages)
    }
}
