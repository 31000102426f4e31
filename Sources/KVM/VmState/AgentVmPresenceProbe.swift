import AgentHTTP
import Inventory

/// ``VmPresenceProbe`` over the agents: `/vm/vmsync` on every Connected host of the VM's cluster (except the host
/// being checked), all at once, each bounded by its own timeouts.
///
/// A host counts as running the VM when its report lists the VM in any state but `Shutdown` (a Suspended or
/// unmappable state counts: the VM exists there, and a false "running" only delays a Stopped verdict to the next
/// sync, while a false "not running" starts it twice). Hosts that are not Connected are not asked: whether a
/// partitioned host still runs a VM is HA fencing's question, which this worker does not answer.
public struct AgentVmPresenceProbe: VmPresenceProbe {
    public let hosts: any HostStore
    public let agent: KVMAgentVmSync
    public let timeout: Duration
    public let connectTimeout: Duration

    public init(hosts: any HostStore, caller: AgentCaller, timeout: Duration = .seconds(20),
                connectTimeout: Duration = .seconds(5)) {
        self.hosts = hosts
        self.agent = KVMAgentVmSync(caller: caller)
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    public func hostsRunning(vmUuid: String, clusterUuid: String?, excluding hostUuid: String) async throws -> [String] {
        let all = try await hosts.hosts()
        let cluster = clusterUuid ?? all.first { $0.uuid == hostUuid }?.clusterUuid
        // No cluster known: every Connected host may have started it (the inventory cannot narrow it down).
        let candidates = all.filter {
            $0.uuid != hostUuid && $0.status == .connected && (cluster == nil || $0.clusterUuid == cluster)
        }
        return try await withThrowingTaskGroup(of: String?.self) { group in
            for host in candidates {
                group.addTask {
                    let report = try await agent.report(of: host, timeout: timeout, connectTimeout: connectTimeout)
                    guard let state = report.states[vmUuid] else { return nil }
                    return state == "Shutdown" && !report.vmInShutdowns.contains(vmUuid) ? nil : host.uuid
                }
            }
            var running: [String] = []
            for try await found in group { if let found { running.append(found) } }
            return running
        }
    }
}
