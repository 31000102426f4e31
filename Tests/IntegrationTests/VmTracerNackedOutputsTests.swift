import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Testing
import Worker

/// A verdict whose outputs the broker refuses (basic.nack on a live connection — seen in the parallel integration
/// run when a queue bound to `BROADCAST` went away mid-routing) must not stay stuck: the worker gives the message
/// back to the queue, handles it again, and the redelivery settles (the VM handler is idempotent).
@Suite("VM verdict outputs nacked by the broker", .enabled(if: TestBroker.available))
struct VmTracerNackedOutputsTests {
    @Test("a Starting → Running verdict whose device-info request is nacked is redelivered and settles; V Running")
    func nackedOutputsAreRedelivered() async throws {
        try await withWorker { harness in
            let hostUuid = MessageID.random(), vm = MessageID.random()
            try await harness.inventory.upsertHosts([
                HostRecord(uuid: hostUuid, managementIp: "127.0.0.1", agentPort: 1, status: .connected),
            ])
            try await harness.inventory.upsertVms([VmRecord(uuid: vm, state: .starting, hostUuid: hostUuid)])
            // The verdict's outputs include a SyncVmDeviceInfoMsg to this worker's own host service: refuse it.
            let rejecting = try await RejectingQueue.bind(routingKey: harness.hostQueue)

            let verdict = try OutboundMessage.oneWay(
                VmStateChangedOnHostMsg(vmInstanceUuid: vm, hostUuid: hostUuid, stateOnHost: "Running",
                                        vmStateAtTracingMoment: "Starting", fromSync: true),
                to: ServiceID(service: ServiceID.vmInstanceService, node: harness.node))
            try await harness.sendRaw(verdict.body,
                                      queue: ServiceID(service: ServiceID.vmInstanceService, node: harness.node).queueName)

            #expect(try await eventually { harness.metrics[WorkerCounter.publishFailures] >= 1 },
                    "the broker did not refuse the device-info request")
            #expect(try await harness.vm(vm) { $0.state == .running }?.state == .running)
            // The first handling's outputs were refused; the message must come back and be answered (its second run
            // finds V already Running on the host: nothing more to do, nothing to publish).
            #expect(try await eventually(within: .seconds(15)) { harness.verdictsHandled == 1 },
                    "the refused verdict was never handled again: it stays unacked on a live channel")
            await rejecting.close()
        }
    }
}
