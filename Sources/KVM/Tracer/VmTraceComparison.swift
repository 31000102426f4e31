import CloudBus
import Inventory
import KVMMessages

/// ZStack's `Tracer.trace()` comparison of one host's report with what the inventory expects on that host, as a
/// pure value: no store, no clock, no I/O, so it costs a few dictionary probes per VM.
///
/// Host side, for each reported VM not in `skipped`:
/// - expected on the host with another state: a ``VmStateChangedOnHostMsg`` in ``changes`` (`fromSync` true,
///   `vmStateAtTracingMoment` = expected);
/// - not expected on the host: an entry of ``unexpected``. Whether it is an *anonymous* VM (the inventory knows
///   it, it gets a change with expected nil) or a *stranger* (unknown uuid, a `/vmTracer/strangerVmFound` event)
///   needs the store, so ``VmTracer`` decides.
///
/// Management side, for each expected VM the host did not report, not in `skipped`, whose expected state is not
/// Stopped or Created: an entry of ``missing``. ``VmTracer`` asks the orphan hook (`isOrphanSkipped`) about each
/// before it becomes a Stopped verdict (``missingVerdict(_:)``).
///
/// Outputs are ordered by VM uuid, so equal inputs give equal outputs.
public struct VmTraceComparison: Sendable, Equatable {
    /// A VM the host runs that the inventory does not expect there.
    public struct Unexpected: Sendable, Hashable {
        public var vmUuid: String
        public var stateOnHost: VmState

        public init(vmUuid: String, stateOnHost: VmState) {
            self.vmUuid = vmUuid
            self.stateOnHost = stateOnHost
        }
    }

    /// A VM the inventory expects on the host that the host did not report.
    public struct Missing: Sendable, Hashable {
        public var vmUuid: String
        public var expected: VmState

        public init(vmUuid: String, expected: VmState) {
            self.vmUuid = vmUuid
            self.expected = expected
        }
    }

    public let hostUuid: String
    public private(set) var changes: [VmStateChangedOnHostMsg] = []
    public private(set) var unexpected: [Unexpected] = []
    public private(set) var missing: [Missing] = []

    /// Expected states that never count as missing: the VM is not supposed to run anywhere.
    public static let notMissingWhenAbsent: Set<VmState> = [.stopped, .created]

    /// - Parameters:
    ///   - reported: the host's report, mapped to VM states. Every VM the host listed must be here (a VM left out
    ///     would read as missing); put those that must not be judged (Unknown, unmappable) in `skipped` too.
    ///   - expected: the inventory's expected VMs on the host (``VmStore/expectedVms(onHost:excludingTypes:)``).
    ///   - skipped: VMs an in-flight operation owns (both skip snapshots), plus any the caller excludes.
    public init(
        hostUuid: String, reported: [String: VmState], expected: [String: VmState], skipped: Set<String>
    ) {
        self.hostUuid = hostUuid
        for (vmUuid, actual) in reported where !skipped.contains(vmUuid) {
            if let expectedState = expected[vmUuid] {
                if actual != expectedState {
                    changes.append(VmStateChangedOnHostMsg(
                        vmInstanceUuid: vmUuid, hostUuid: hostUuid, stateOnHost: actual.rawValue,
                        vmStateAtTracingMoment: expectedState.rawValue, fromSync: true))
                }
            } else {
                unexpected.append(Unexpected(vmUuid: vmUuid, stateOnHost: actual))
            }
        }
        for (vmUuid, expectedState) in expected
        where reported[vmUuid] == nil && !Self.notMissingWhenAbsent.contains(expectedState)
            && !skipped.contains(vmUuid)
        {
            missing.append(Missing(vmUuid: vmUuid, expected: expectedState))
        }
        if changes.count > 1 { changes.sort { $0.vmInstanceUuid < $1.vmInstanceUuid } }
        if unexpected.count > 1 { unexpected.sort { $0.vmUuid < $1.vmUuid } }
        if missing.count > 1 { missing.sort { $0.vmUuid < $1.vmUuid } }
    }

    /// The verdict for an unexpected VM the inventory knows: expected nil, which turns off the VM handler's
    /// staleness check (the VM may have been started on this host while the inventory still names another).
    public func anonymousVerdict(_ vm: Unexpected) -> VmStateChangedOnHostMsg {
        VmStateChangedOnHostMsg(
            vmInstanceUuid: vm.vmUuid, hostUuid: hostUuid, stateOnHost: vm.stateOnHost.rawValue,
            vmStateAtTracingMoment: nil, fromSync: true)
    }

    /// The verdict for a missing VM the orphan hook does not protect: Stopped on this host.
    public func missingVerdict(_ vm: Missing) -> VmStateChangedOnHostMsg {
        VmStateChangedOnHostMsg(
            vmInstanceUuid: vm.vmUuid, hostUuid: hostUuid, stateOnHost: VmState.stopped.rawValue,
            vmStateAtTracingMoment: vm.expected.rawValue, fromSync: true)
    }
}
