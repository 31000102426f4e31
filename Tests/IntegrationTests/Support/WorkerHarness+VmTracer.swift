import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Primitives
import Worker
import Testing

/// Driving the VM tracer of a harness worker the way the bus does, and waiting for its outcomes with bounded polls.
extension WorkerHarness {
    struct VmTracerWaitFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends this worker its own `VmSyncOnHostMsg {hostUuid}` (as a successful ping does) and returns once the
    /// round was handled: its verdicts and events, if any, were confirmed by the broker before that counter moved.
    /// A round that finds a VM state differing has counted it in `cloudbus_worker_vm_tracer_verdicts_total` by then.
    ///
    /// Syncs of one test must not overlap (the wait is on this worker's handled count).
    func syncVms(onHost hostUuid: String, within limit: Duration = .seconds(20)) async throws {
        let handled = WorkerCounter.handled(VmSyncOnHostMsg.className)
        let before = metrics[handled]
        let request = try OutboundMessage.oneWay(
            VmSyncOnHostMsg(hostUuid: hostUuid), to: ServiceID(service: ServiceID.hostService, node: node),
            timeout: .seconds(60))
        try await sendRaw(request.body)
        guard try await eventually(within: limit, { metrics[handled] > before }) else {
            throw VmTracerWaitFailed(description: "the VM sync of host \(hostUuid) was not handled within \(limit)")
        }
    }

    /// Verdicts the tracer of this worker has sent so far.
    var stateChangesSent: Int { metrics[WorkerCounter.tracerVerdicts] }

    /// `VmStateChangedOnHostMsg`s this worker's VM handler has answered so far.
    var verdictsHandled: Int { metrics[WorkerCounter.handled(VmStateChangedOnHostMsg.className)] }

    /// Whether every output this worker published was confirmed. When the broker refused one (a queue bound to
    /// `BROADCAST` deleted mid-routing by another suite), the worker gives the message back and its second run finds
    /// the change already made: the events of that one change may be lost (docs/design-vm-state.md), so tests
    /// assert on events only when this holds.
    var outputsConfirmed: Bool { metrics[WorkerCounter.publishFailures] == 0 }

    /// Deliveries of `VmStateChangedOnHostMsg` this worker gave back because their outputs (or the VM's pending
    /// outbox) were not confirmed.
    var verdictsGivenBack: Int {
        metrics[WorkerCounter.outcome(.givenBack, className: VmStateChangedOnHostMsg.className)]
    }

    /// Waits until the VM handler answered `count` verdicts in all.
    func waitForVerdictsHandled(_ count: Int, within limit: Duration = .seconds(20)) async throws {
        guard try await eventually(within: limit, { verdictsHandled >= count }) else {
            throw VmTracerWaitFailed(description: "\(verdictsHandled) verdicts handled, expected \(count)")
        }
    }

    /// Polls the inventory until the VM matches or the bound passes; returns the last row read.
    func vm(_ uuid: String, within limit: Duration = .seconds(10),
            until condition: (VmRecord) -> Bool) async throws -> VmRecord? {
        let deadline = ContinuousClock.now + limit
        var row = try await inventory.vm(uuid: uuid)
        while ContinuousClock.now < deadline {
            if let row, condition(row) { return row }
            try await Task.sleep(for: .milliseconds(20))
            row = try await inventory.vm(uuid: uuid)
        }
        return row
    }

    /// Polls the worker's skip registry until `condition` holds or the bound passes; returns whether it held.
    func registry(within limit: Duration = .seconds(10),
                  until condition: (SkipRegistry) async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if await condition(runtime.skipRegistry) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await condition(runtime.skipRegistry)
    }

    /// ``publishEvent(_:from:)``, published again when the broker nacks it. A queue bound to `BROADCAST` that is
    /// deleted while the event is routed (another suite's worker or event probe stopping) makes the broker refuse
    /// the publish on a live connection; the event may or may not have reached this worker, so only events that are
    /// harmless twice go this way (a second skip-trace is one more operation, orphaned by the NodeLeft like the
    /// first; NodeLeft, continue-trace and `/vm/state/change` are idempotent).
    func broadcast<C: CanonicalEventContent>(_ content: C, from sender: String) async throws {
        var attempt = 1
        while true {
            do {
                try await publishEvent(content, from: sender)
                return
            } catch AMQPError.publishNacked where attempt < 5 {
                attempt += 1
            }
        }
    }

    /// Delivers a canonical event to this worker's event queue only (default exchange, confirmed), not on
    /// `BROADCAST`. For events whose handling would make *every* worker on the shared broker act: a
    /// `/vm/state/change` to Running makes each worker that owns the VM on its own ring send itself a
    /// `SyncVmDeviceInfoMsg`, which workers that do not know the host dead-letter (polluting the shared dead-letter
    /// queue and the dead-letter counters other suites assert on).
    func deliverEvent<C: CanonicalEventContent>(_ content: C, from sender: String) async throws {
        let body = try CanonicalEvent.envelope(content: content, managementNodeId: sender).encoded()
        let outcome = try await clientConnection.publish(OutgoingMessage(
            exchange: "", routingKey: BusTopology.eventQueue(node: node), body: [UInt8](body), mandatory: true))
        if case .returned(let code, let text) = outcome {
            throw VmTracerWaitFailed(description: "event not delivered to this worker's event queue: \(code) \(text)")
        }
    }

    /// `cloudbus.worker.UpdateSettingMsg` through the broker; throws unless the worker accepted the value.
    func updateSetting(_ name: String, to value: String) async throws {
        let reply = try await call(UpdateSettingMsg.className, ["name": .string(name), "value": .string(value)])
        guard reply.success else {
            throw VmTracerWaitFailed(description: "setting \(name)=\(value) refused: \(String(decoding: reply.raw, as: UTF8.self))")
        }
    }

    /// Fires, as management node `sender`, the events of node `owner` starting an operation on each VM
    /// (`/vmTracer/skipTrace`) and then leaving the ring (`/managementnode/lifecycle` NodeLeft), and waits until this
    /// worker holds every VM as an orphan of `owner`.
    func orphan(_ vmUuids: [String], ofDepartedNode owner: String, reportedBy sender: String) async throws {
        for vmUuid in vmUuids {
            try await broadcast(
                VmSkipTraceData(vmUuid: vmUuid, msgName: "org.zstack.header.vm.StartVmInstanceMsg",
                                managementNodeId: owner),
                from: owner)
        }
        try await broadcast(ManagementNodeLifeCycleData(nodeUuid: owner, lifeCycle: .nodeLeft), from: sender)
        let orphaned = await registry { registry in
            for vmUuid in vmUuids {
                if !(await registry.isOrphanSkipped(vmUuid)) { return false }
            }
            return true
        }
        guard orphaned else {
            throw VmTracerWaitFailed(description: "VMs \(vmUuids) did not become orphans of node \(owner)")
        }
    }
}

extension EventProbe {
    /// `/vmTracer/vmStateChanged` events seen for one VM.
    func tracerStateChanges(of vmUuid: String) -> [Seen] {
        events(VmTracerStateChangedData.path) { $0["vmUuid"]?.stringValue == vmUuid }
    }

    /// `/vm/state/change` events seen for one VM.
    func fullStateChanges(of vmUuid: String) -> [Seen] {
        events(VmFullStateChangedData.path) { $0["vmUuid"]?.stringValue == vmUuid }
    }
}

/// A VM Starting on a host that another node serves on the ring, and the Running verdict that changes it: the
/// device-info request that verdict announces goes to the other node's host queue, which a test can gate or watch.
struct ForeignHostVerdict {
    let hostUuid: String
    let vm: String
    /// The `VmStateChangedOnHostMsg` (Starting → Running), one-way, and the queue to send it to.
    let body: Data
    let queue: String

    /// Picks a host `owner` serves on a ring of `node` and `owner`, and a VM uuid; writes neither.
    init(node: NodeUUID, owner: NodeUUID) throws {
        let ring = ClusterMembership(selfNode: node, otherNodes: [owner])
        hostUuid = try #require((0..<1_000).lazy.map { _ in MessageID.random() }.first { ring.owner(of: $0) == owner })
        vm = MessageID.random()
        let vmService = ServiceID(service: ServiceID.vmInstanceService, node: node)
        body = try OutboundMessage.oneWay(
            VmStateChangedOnHostMsg(vmInstanceUuid: vm, hostUuid: hostUuid, stateOnHost: "Running",
                                    vmStateAtTracingMoment: "Starting", fromSync: true), to: vmService).body
        queue = vmService.queueName
    }

    /// The host (agent address unused) and the VM, Starting on it, in `inventory`.
    func seed(_ inventory: any InventoryBackend) async throws {
        try await inventory.upsertHosts([HostRecord(uuid: hostUuid, managementIp: "127.0.0.1", agentPort: 1, status: .connected)])
        try await inventory.upsertVms([VmRecord(uuid: vm, state: .starting, hostUuid: hostUuid)])
    }
}

/// Polls `inventory` until the outbox holds nothing for `key`, at most `limit`.
func outboxEmpties(_ inventory: any InventoryBackend, key: String, within limit: Duration = .seconds(30)) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await inventory.pendingOutbox(key: key).isEmpty { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await inventory.pendingOutbox(key: key).isEmpty
}
