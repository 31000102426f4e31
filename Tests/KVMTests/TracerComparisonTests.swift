import CloudBus
import Inventory
import KVM
import KVMMessages
import Testing

@Suite("VM tracer: the pure comparison and the agent-state mapping")
struct TracerComparisonTests {
    @Test("agent states map as KvmVmState; Suspended is Unknown; other strings are unmappable")
    func mapping() {
        #expect(AgentVmState.vmState(fromAgent: "Running") == .running)
        #expect(AgentVmState.vmState(fromAgent: "Shutdown") == .stopped)
        #expect(AgentVmState.vmState(fromAgent: "Paused") == .paused)
        #expect(AgentVmState.vmState(fromAgent: "Crashed") == .crashed)
        #expect(AgentVmState.vmState(fromAgent: "NoState") == .noState)
        #expect(AgentVmState.vmState(fromAgent: "Suspended") == .unknown)
        #expect(AgentVmState.vmState(fromAgent: "running") == nil)
        #expect(AgentVmState.vmState(fromAgent: "") == nil)
    }

    @Test("differences, unexpected and missing VMs, skip set honoured everywhere, sorted output")
    func comparison() {
        let comparison = VmTraceComparison(
            hostUuid: "h",
            reported: ["d": .paused, "a": .running, "x": .running, "s": .crashed, "u": .running],
            expected: ["a": .running, "d": .running, "m": .running, "n": .stopped, "c": .created, "k": .starting,
                       "s": .running, "z": .destroying],
            skipped: ["s", "k", "u"])
        #expect(comparison.changes.map(\.vmInstanceUuid) == ["d"])
        #expect(comparison.changes.first?.vmStateAtTracingMoment == "Running")
        #expect(comparison.unexpected == [VmTraceComparison.Unexpected(vmUuid: "x", stateOnHost: .running)])
        #expect(comparison.missing.map(\.vmUuid) == ["m", "z"])
        let missing = comparison.missingVerdict(comparison.missing[1])
        #expect(missing.stateOnHost == "Stopped" && missing.vmStateAtTracingMoment == "Destroying" && missing.fromSync)
        let anonymous = comparison.anonymousVerdict(comparison.unexpected[0])
        #expect(anonymous.vmStateAtTracingMoment == nil && anonymous.hostUuid == "h")
    }
}
