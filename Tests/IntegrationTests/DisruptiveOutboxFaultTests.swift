import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Primitives
import Testing
import Worker

/// The outbox under the faults it exists for, timed exactly: a VM verdict has written its state change and its
/// announcements to the store, and the broker holds their publish unconfirmed (a memory alarm blocks publishers), when
/// the fault strikes. Disruptive: the alarm blocks every publisher on the broker and the connection cut closes every
/// client connection.
@Suite("Outbox under connection cuts (disruptive)", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveOutboxFaultTests {
    @Test("connection cut between the store write and the confirm: announcements arrive with their first id, outbox empties",
          .timeLimit(.minutes(3)))
    func connectionCutBeforeTheConfirm() async throws {
        // The device-info request goes to the host service of the host's owner on the ring: node B, whose routing key
        // this test consumes itself, on a queue that outlives the cut (not exclusive, expires when unused).
        let nodeB = NodeUUID.random()
        let gate = HandlerGate()
        try await withWorker(
            configure: { $0.ringNodes = [nodeB.rawValue]; $0.amqp.confirmTimeout = .seconds(2) },
            extraHandlers: { $0.register(HangHandler(gate: gate)) }
        ) { harness in
            let verdict = try ForeignHostVerdict(node: harness.node, owner: nodeB)
            let vm = verdict.vm
            try await verdict.seed(harness.inventory)
            let nodeBQueue = try await SurvivingQueue.open(
                routingKey: ServiceID(service: ServiceID.hostService, node: nodeB).queueName)
            try await withTeardown({ gate.open(); try? TestBroker.control("memory-alarm", "off"); await nodeBQueue.close() }) {
                // 1. The VM's key is held by a hanging message, so the verdict queues behind it.
                try await harness.sendRaw(try OutboundMessage.oneWay(HangMsg(hostUuid: vm, hang: true),
                                                                     to: ServiceID(service: ServiceID.hostService, node: harness.node)).body)
                try #require(try await eventually { gate.hangingStarts(for: vm) >= 1 }, "the hanging message never started")
                try await harness.sendRaw(verdict.body, queue: verdict.queue)
                try #require(try await eventually { harness.metrics[WorkerCounter.received] >= 2 })

                // 2. Publishers blocked; the key runs on: the verdict writes the store, its publishes wait.
                try TestBroker.control("memory-alarm", "on")
                gate.open()
                #expect(try await harness.vm(vm, within: .seconds(20)) { $0.state == .running }?.state == .running,
                        "the verdict never wrote its state change")
                #expect(try await harness.inventory.pendingOutbox(key: vm).count >= 1,
                        "the announcements are not in the outbox while their publish waits")
                #expect(nodeBQueue.received.isEmpty, "an announcement got through a blocked connection")

                // 3. The cut, while the publish waits for its confirm; then the alarm clears.
                let epoch = harness.worker.connection.statistics.epoch
                try TestBroker.control("close-connections", "outbox fault test")
                #expect(try await eventually(within: .seconds(20)) { harness.worker.connection.statistics.epoch > epoch },
                        "the worker did not reconnect")
                try TestBroker.control("memory-alarm", "off")

                // 4. The announcement arrives (at least once; every copy carries the id it was written with), and
                //    the outbox empties once the broker confirmed it.
                #expect(try await eventually(within: .seconds(60)) {
                    nodeBQueue.received.contains { $0.contains(SyncVmDeviceInfoMsg.className) && $0.contains(vm) }
                }, "the device-info request written with the state change never arrived")
                let ids = Set(nodeBQueue.received.filter { $0.contains(vm) }.compactMap(Self.messageId))
                #expect(ids.count == 1, "copies of one announcement carry one id: \(ids)")
                #expect(try await outboxEmpties(harness.inventory, key: vm), "the outbox rows were never removed")
                #expect(try await harness.inventory.vm(uuid: vm)?.state == .running)
            }
        }
    }

    @Test("kill -9 after the store write, before the publish got through: the announcement is sent after the restart",
          .timeLimit(.minutes(4)))
    func killAfterTheStoreWrite() async throws {
        let node = NodeUUID.random(), nodeB = NodeUUID.random()
        let dataDirectory = NSTemporaryDirectory() + "cbw-outbox-kill9-\(node.rawValue)"
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let verdict = try ForeignHostVerdict(node: node, owner: nodeB)
        let vm = verdict.vm
        // The inventory the worker process will open: the host (owned by B on the ring) and the VM, Starting.
        try await verdict.seed(try SQLiteInventory(path: WorkerRuntime.inventoryPath(dataDirectory: dataDirectory)))
        let services = [ServiceID.hostService, ServiceID.vmInstanceService]
        let environment = ["CLOUDBUS_RING_NODES": nodeB.rawValue]
        let nodeBQueue = try await SurvivingQueue.open(routingKey: ServiceID(service: ServiceID.hostService, node: nodeB).queueName)
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10)
        try await connection.start()
        let client = RPCClient(connection: connection)
        try await client.start()
        var workers: [WorkerProcess] = []
        func cleanUp() async {
            try? TestBroker.control("memory-alarm", "off")
            for worker in workers { await worker.stop() }
            await client.close()
            await connection.close()
            await nodeBQueue.close()
            try? FileManager.default.removeItem(atPath: dataDirectory)
        }
        do {
            // 1. The worker declares its durable queues, then stops; the verdict waits in its queue.
            let first = try WorkerProcess.launch(node: node, dataDirectory: dataDirectory, prefetch: 16, generation: 1,
                                                 services: services, environment: environment)
            workers.append(first)
            try #require(await DisruptiveReliabilityTests.waitUntilServing(
                client, service: "\(ServiceID.hostService).\(node.rawValue)", within: .seconds(60)), "worker never served: \(first.logTail())")
            await first.stop()
            _ = try await client.send(raw: verdict.body, to: .queue(verdict.queue))

            // 2. Publishers blocked, then the worker: it takes the verdict, writes the state change and its
            //    announcements, and its publish waits. Killed there.
            try TestBroker.control("memory-alarm", "on")
            let second = try WorkerProcess.launch(node: node, dataDirectory: dataDirectory, prefetch: 16, generation: 2,
                                                  services: services, environment: environment)
            workers.append(second)
            let observer = try SQLiteInventory(path: WorkerRuntime.inventoryPath(dataDirectory: dataDirectory))
            var written = false
            for _ in 0..<400 where !written {
                let running = try await observer.vm(uuid: vm)?.state == .running
                let pending = try await observer.pendingOutbox(key: vm).count
                written = running && pending > 0
                if !written { try await Task.sleep(for: .milliseconds(50)) }
            }
            try #require(written, "the verdict never wrote its change and outbox rows: \(second.logTail())")
            #expect(nodeBQueue.received.isEmpty, "an announcement got through a blocked connection")
            #expect(await second.killHard() == SIGKILL)
            try TestBroker.control("memory-alarm", "off")

            // 3. Restarted: the outbox is published on its key before anything is consumed.
            let third = try WorkerProcess.launch(node: node, dataDirectory: dataDirectory, prefetch: 16, generation: 3,
                                                 services: services, environment: environment)
            workers.append(third)
            #expect(try await eventually(within: .seconds(60)) {
                nodeBQueue.received.contains { $0.contains(SyncVmDeviceInfoMsg.className) && $0.contains(vm) }
            }, "the device-info request written before the kill never arrived: \(third.logTail())")
            let ids = Set(nodeBQueue.received.filter { $0.contains(vm) }.compactMap(Self.messageId))
            #expect(ids.count == 1, "copies of one announcement carry one id: \(ids)")
            #expect(try await outboxEmpties(observer, key: vm), "the outbox rows were never removed")
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    private static func messageId(_ body: String) -> String? {
        guard let value = try? JSONValue(parsing: Data(body.utf8)), case .object(let outer) = value,
              let inner = outer.values.first else { return nil }
        return inner["id"]?.stringValue
    }
}
