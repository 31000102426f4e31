import AMQP
import CloudBus
import CloudBusAMQP
import Testing

@Suite("A worker's topology")
struct WorkerTopologyTests {
    @Test("a drain declares a departed worker's service queues as the worker did, and not its event queue",
          arguments: [WorkerQueueOptions.Kind.classic, .quorum])
    func serviceQueuesAreTheWorkersWithoutItsEventQueue(kind: WorkerQueueOptions.Kind) throws {
        let node = NodeUUID.random()
        let services = [ServiceID.hostService, ServiceID.vmInstanceService]
        let options = WorkerQueueOptions(kind: kind, durable: true)
        let worker = BusTopology.worker(node: node, services: services, queues: options)
        let drain = BusTopology.serviceQueues(node: node, services: services, queues: options)
        let events = BusTopology.eventQueue(node: node)

        #expect(!drain.queues.contains { $0.name == events })
        #expect(!drain.bindings.contains { $0.queue == events })
        // Everything else exactly as the worker declares it (a different argument would fail the declaration).
        #expect(drain.exchanges == worker.exchanges)
        #expect(drain.queues == worker.queues.filter { $0.name != events })
        #expect(drain.bindings == worker.bindings.filter { $0.queue != events })
        for service in services {
            #expect(drain.queues.contains { $0.name == ServiceID(service: service, node: node).queueName })
        }
        // The worker's event queue dead-letters like its other queues and takes the broadcast events.
        let eventQueue = try #require(worker.queues.first { $0.name == events })
        #expect(eventQueue.arguments["x-dead-letter-exchange"] == .string(BusTopology.deadLetterExchange))
        #expect(worker.bindings.contains { $0.queue == events && $0.exchange == BusNames.broadcastExchange })
    }
}
