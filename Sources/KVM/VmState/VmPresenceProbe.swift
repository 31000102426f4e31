/// Asks the hosts of a cluster whether they run a VM: the VM handler's cross-check before it believes a Stopped
/// verdict that may be the split-brain race (see ``VmStateChangedOnHostHandler``).
///
/// The worker implements it with the agent's `/vm/vmsync` on the cluster's Connected hosts.
public protocol VmPresenceProbe: Sendable {
    /// The hosts (uuids, in any order) whose agent reports `vmUuid` present and not shut off (Running, Paused,
    /// Crashed, NoState, or going down), among the Connected hosts of `clusterUuid`, not counting `hostUuid`.
    ///
    /// - Parameters:
    ///   - clusterUuid: the VM's cluster; nil when the inventory records none, in which case the implementation
    ///     probes the cluster of `hostUuid`.
    ///   - hostUuid: the host whose report is being checked (it already said the VM is not running there).
    /// - Throws: when any host that should be asked could not answer: an incomplete answer must not be read as
    ///   "nobody runs it". `CancellationError` when cancelled (the handler propagates it and decides nothing).
    ///
    /// Tracer reports carry no deadline, so the implementation bounds its own agent calls (connect and call
    /// timeouts); the handler waits for the answer on the VM's serial key.
    func hostsRunning(vmUuid: String, clusterUuid: String?, excluding hostUuid: String) async throws -> [String]
}
