import AgentHTTP
import CloudBus
import Inventory
import KVMMessages
import Logging

/// Answers `org.zstack.header.host.ReconnectHostMsg` for hosts this worker owns, as far as a bus worker can
/// reconnect a host: the host goes Connecting, its agent is pinged once, and the host ends Connected (agent
/// answered, for this host) or Disconnected (the reply then carries why, SYS.1006).
///
/// What ZStack's connect flow also does — deploying the agent with Ansible, pushing `/host/connect` with the host
/// uuid and the management node's command URL, re-running host-connect extensions — needs the management node's
/// credentials and is not done: an agent that serves another host stays Disconnected until an operator fixes it.
/// `skipIfHostConnected` is honoured. Unknown host: SYS.1007, dead-lettered.
public struct ReconnectHostHandler: BusHandler {
    public typealias Message = ReconnectHostMsg

    public let hosts: any HostStore
    public let agent: KVMAgentPing
    public let settings: PingSettings
    private let logger: Logger

    public init(hosts: any HostStore, caller: AgentCaller, settings: PingSettings = PingSettings(),
                logger: Logger = Logger(label: "cloudbus.kvm.reconnect")) {
        self.hosts = hosts
        self.agent = KVMAgentPing(caller: caller)
        self.settings = settings
        self.logger = logger
    }

    public var expectsReply: Bool { true }

    /// The host's own key: a reconnect never overlaps a ping of the same host.
    public func resourceKey(for message: ReconnectHostMsg) -> String { message.hostUuid }
    public func ownedResource(for message: ReconnectHostMsg) -> String? { message.hostUuid }

    public func handle(_ message: ReconnectHostMsg, context: HandlerContext) async throws -> HandlerOutput {
        guard let host = try await hosts.host(uuid: message.hostUuid) else {
            let details = "host[uuid:\(message.hostUuid)] not found in this worker's inventory"
            throw BadRequest(SysError.invalidArgument.error(details), reason: "unknown-host: \(details)")
        }
        if message.skipIfHostConnected == true, host.status == .connected {
            return HandlerOutput(reply: ReconnectHostReply())
        }
        try await hosts.updateHostStatus(uuid: host.uuid, to: .connecting)
        let timeout = context.budget(upTo: settings.timeout)
        do {
            _ = try await agent.attempt(host, attempt: 1, timeout: timeout, connectTimeout: settings.connectTimeout)
        } catch let failure as PingFailure {
            try await hosts.updateHostStatus(uuid: host.uuid, to: .disconnected)
            logger.warning("reconnect failed", metadata: ["host": "\(host.uuid)", "error": "\(failure)"])
            return HandlerOutput(reply: ReconnectHostReply(error: SysError.operationError.error(
                "failed to reconnect host[uuid:\(host.uuid)]", cause: failure.errorCode)))
        } catch {
            // Cancelled (deadline): the host is not left Connecting, which would make every ping fail.
            _ = try? await hosts.updateHostStatus(uuid: host.uuid, to: host.status)
            throw error
        }
        try await hosts.updateHostStatus(uuid: host.uuid, to: .connected)
        logger.info("host reconnected", metadata: ["host": "\(host.uuid)"])
        return HandlerOutput(reply: ReconnectHostReply())
    }
}
