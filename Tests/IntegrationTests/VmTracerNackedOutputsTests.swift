import AMQP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Testing
import Worker

/// A verdict whose outputs the broker refuses (basic.nack on a live connection, as when a queue goes away
/// mid-routing) must neither stay stuck nor lose its outputs. The worker gives the message back; its redelivery finds
/// V already Running, so the handler announces nothing new — what the first run announced comes from the outbox.
///
/// The waits are on the verdict's own given-back count, not the worker's publish failures: the tests of this suite
/// run side by side, and each worker stores the VM of the other's `/vm/state/change` broadcast and, owning it on its
/// own ring, sends a device-info sync to its own closed gate — a refusal that says nothing about the verdict (a test
/// that opened its gate on it raced the verdict's first publish and saw no outbox republish, in CI).
@Suite("VM verdict outputs nacked by the broker", .enabled(if: TestBroker.available))
struct VmTracerNackedOutputsTests {
    @Test("a Starting → Running verdict whose device-info request is refused: redelivered, and the request is sent after all")
    func refusedOutputIsSentFromTheOutbox() async throws {
        // The device-info request goes to the host service of the host's owner on the ring: another node, B, whose
        // queue is a gate that refuses everything until the test opens it.
        let nodeB = NodeUUID.random()
        try await withWorker(configure: { $0.ringNodes = [nodeB.rawValue] }) { harness in
            let verdict = try ForeignHostVerdict(node: harness.node, owner: nodeB)
            let vm = verdict.vm
            try await verdict.seed(harness.inventory)
            let gate = try await GatedQueue.closed(routingKey: ServiceID(service: ServiceID.hostService, node: nodeB).queueName)
            try await harness.sendRaw(verdict.body, queue: verdict.queue)

            #expect(try await eventually { harness.verdictsGivenBack >= 1 },
                    "the broker did not refuse the device-info request")
            #expect(try await harness.vm(vm) { $0.state == .running }?.state == .running)
            #expect(try await harness.inventory.pendingOutbox(key: vm).contains {
                String(decoding: $0.message.body, as: UTF8.self).contains(SyncVmDeviceInfoMsg.className)
            }, "the refused request is not in the outbox")
            try await gate.open()
            let request = await gate.next(containing: vm, within: .seconds(15))
            let body = request.map { String(decoding: $0.body, as: UTF8.self) } ?? ""
            #expect(body.contains(SyncVmDeviceInfoMsg.className) && body.contains(vm),
                    "the device-info request the first run announced was lost")
            #expect(try await eventually(within: .seconds(15)) { harness.verdictsHandled == 1 },
                    "the refused verdict was never settled")
            #expect(harness.metrics[WorkerCounter.outboxRepublished] >= 1)
            // The rows go with the verdict's answer, in the journal's transaction, before its ack.
            #expect(try await harness.inventory.pendingOutbox(key: vm).isEmpty, "the outbox rows were not removed")
            await gate.close()
        }
    }

    @Test("a refused output is not retried in a hot loop: the delivery is held for the backoff, then redelivered")
    func refusedOutputBacksOff() async throws {
        let nodeB = NodeUUID.random()
        try await withWorker(configure: {
            $0.ringNodes = [nodeB.rawValue]
            $0.publishFailureBackoff = .seconds(4)
        }) { harness in
            let verdict = try ForeignHostVerdict(node: harness.node, owner: nodeB)
            let vm = verdict.vm
            try await verdict.seed(harness.inventory)
            let gate = try await GatedQueue.closed(routingKey: ServiceID(service: ServiceID.hostService, node: nodeB).queueName)
            try await harness.sendRaw(verdict.body, queue: verdict.queue)
            #expect(try await eventually { harness.verdictsGivenBack >= 1 })
            // Within the backoff the verdict is tried once. Without the pause it is retried per broker round trip
            // (352 attempts in 1.5 s, measured).
            try await Task.sleep(for: .seconds(2))
            let attempts = harness.verdictsGivenBack
            #expect(attempts == 1, "\(attempts) refused attempts of the verdict within the backoff: retried at once")
            try await gate.open()
            let request = await gate.next(containing: vm, within: .seconds(20))
            #expect(request != nil, "the held delivery was never given back and retried")
            await gate.close()
        }
    }

    @Test("a delivery the worker gives back is no poison: returned again and again with deliveryLimit 1, it is still served")
    func givenBackIsNotPoison() async throws {
        let nodeB = NodeUUID.random()
        try await withWorker(configure: {
            $0.ringNodes = [nodeB.rawValue]
            $0.publishFailureBackoff = .milliseconds(200)
            // Any redelivery counted as a crash would be refused at once.
            $0.deliveryLimit = 1
        }) { harness in
            let verdict = try ForeignHostVerdict(node: harness.node, owner: nodeB)
            try await verdict.seed(harness.inventory)
            let gate = try await GatedQueue.closed(routingKey: ServiceID(service: ServiceID.hostService, node: nodeB).queueName)
            try await harness.sendRaw(verdict.body, queue: verdict.queue)
            // Refused, given back, redelivered, refused again: several rounds while the gate stays closed.
            #expect(try await eventually { harness.verdictsGivenBack >= 3 })
            try await gate.open()
            let request = await gate.next(containing: verdict.vm, within: .seconds(20))
            #expect(request != nil, "the given-back delivery was refused instead of served")
            #expect(harness.metrics[WorkerCounter.poisonRefused] == 0)
            await gate.close()
        }
    }
}
