import Inventory

/// What the VM handler knows when a host's report disagrees with the inventory (ZStack's
/// `VmAbnormalLifeCycleStruct`): the stored state and hosts, and what the reporting host says.
public struct VmAbnormalLifeCycleStruct: Sendable, Hashable {
    /// The inventory's state when the report is handled.
    public var originalState: VmState
    /// What the host reports.
    public var currentState: VmState
    /// The inventory's `hostUuid` (nil for a VM not on any host).
    public var originalHostUuid: String?
    /// The reporting host (`VmStateChangedOnHostMsg.hostUuid`).
    public var currentHostUuid: String
    /// The inventory's `lastHostUuid`.
    public var lastHostUuid: String?

    public init(
        originalState: VmState, currentState: VmState, originalHostUuid: String?, currentHostUuid: String,
        lastHostUuid: String?
    ) {
        self.originalState = originalState
        self.currentState = currentState
        self.originalHostUuid = originalHostUuid
        self.currentHostUuid = currentHostUuid
        self.lastHostUuid = lastHostUuid
    }

    /// Java's `currentHostUuid.equals(originalHostUuid)`: false when the VM has no stored host.
    public var hostNotChanged: Bool { originalHostUuid == currentHostUuid }

    /// The VM has a stored host and the report comes from another one.
    public var hostChanged: Bool { originalHostUuid != nil && originalHostUuid != currentHostUuid }

    /// A VM without a stored host reported by its last host (the stored-host test for Stopped and Unknown VMs,
    /// whose `hostUuid` ZStack clears).
    public var reportedByLastHost: Bool { originalHostUuid == nil && lastHostUuid == currentHostUuid }

    public init(_ vm: VmRecord, reportedState: VmState, by hostUuid: String) {
        self.init(
            originalState: vm.state, currentState: reportedState, originalHostUuid: vm.hostUuid,
            currentHostUuid: hostUuid, lastHostUuid: vm.lastHostUuid)
    }
}
