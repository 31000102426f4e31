import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Logging
import KVMMessages
import InventoryPostgres
import Inventory
import Primitives
import Synchronization
import Testing
import Worker

/// The worker on the three-node RabbitMQ cluster `make test` starts (`scripts/broker-cluster.sh`), with quorum queues.
/// Serial phase: these tests kill broker nodes and worker processes.
@Suite("The worker on a three-node RabbitMQ cluster", .enabled(if: TestCluster.available), .serialized)
struct DisruptiveBrokerClusterTests {
    /// Counts of a steady ping load: answered, confirmed but never answered (a lost request: must stay zero), and
    /// not confirmed (the sender saw the publish fail: its request was never promised).
    final class PingTally: Sendable {
        private let counts = Mutex((answered: 0, lost: [String](), unconfirmed: 0, sent: 0))
        func sent() { counts.withLock { $0.sent += 1 } }
        func answered() { counts.withLock { $0.answered += 1 } }
        func lost(_ why: String) { counts.withLock { $0.lost.append(why) } }
        func unconfirmed() { counts.withLock { $0.unconfirmed += 1 } }
        var snapshot: (answered: Int, lost: [String], unconfirmed: Int, sent: Int) { counts.withLock { $0 } }
    }

    @Test("quorum queues under a steady ping load: the worker's node dies, the worker moves on, every confirmed request is answered")
    func failoverUnderLoad() async throws {
        try await TestStore.withSchema { settings in
            try await FakeKVMAgent.withRunning { agent in
                let store = try await PostgresInventory.open(
                    settings, owner: "cluster-test",
                    logger: Logger(label: "cluster-test", factory: { _ in SwiftLogNoOpLogHandler() }))
                let hosts = (0..<30).map { _ in MessageID.random() }
                try await store.upsertHosts(hosts.map {
                    HostRecord(uuid: $0, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected)
                })
                let root = NSTemporaryDirectory() + "cbw-cluster-\(UUID().uuidString)"
                defer { try? FileManager.default.removeItem(atPath: root) }
                let node = NodeUUID.random()
                let worker = try WorkerProcess.launch(
                    node: node, dataDirectory: root, prefetch: 64, generation: 1, environment: [
                        "CLOUDBUS_AMQP_URL": "",
                        "CLOUDBUS_AMQP_URLS": try (1...3).map { try TestCluster.url(node: $0) }.joined(separator: ","),
                        "CLOUDBUS_QUEUE_TYPE": "quorum",
                        "CLOUDBUS_LOG_LEVEL": "info",  // "AMQP connected" says which node the worker is on
                        "CLOUDBUS_STORE_URL": settings.location,
                        "CLOUDBUS_STORE_PASSWORD": settings.password ?? "",
                        "CLOUDBUS_MEMBERSHIP_HEARTBEAT_SECONDS": "0.5",
                        "CLOUDBUS_MEMBERSHIP_TIMEOUT_SECONDS": "2",
                    ])
                // The sender sits on node 3, which this test never stops.
                let connection = AMQPConnection(configuration: try TestCluster.configuration(node: 3))
                try await connection.start()
                let client = RPCClient(connection: connection)
                try await client.start()
                let service = "\(ServiceID.hostService).\(node.rawValue)"
                let tally = PingTally()
                let running = Atomic(true)
                func connectedTo(_ port: Int) async -> Bool {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        if worker.logTail(20_000).components(separatedBy: "\n").last(where: { $0.contains("AMQP connected") })?
                            .contains("amqp.endpoint=127.0.0.1:\(port)") == true { return true }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    return false
                }
                func connectionsLost() -> Int {
                    worker.logTail(200_000).components(separatedBy: "\n").count { $0.contains("AMQP connection lost") }
                }
                do {
                    try #require(await DisruptiveReliabilityTests.waitUntilServing(client, service: service, within: .seconds(60)),
                                 "the worker never served: \(worker.logTail())")
                    try #require(await connectedTo(5681), "the worker did not start on node 1: \(worker.logTail())")
                    // Rounds of 30 pings, back to back, until the test says stop.
                    let load = Task {
                        while running.load(ordering: .relaxed) {
                            await withTaskGroup(of: Void.self) { group in
                                for host in hosts {
                                    group.addTask {
                                        tally.sent()
                                        let body = try! JSONValue.object([PingHostMsg.className: .object([
                                            "hostUuid": .string(host),
                                        ])]).jsonData()
                                        do {
                                            let reply = try await client.call(envelope: body, to: .service(service),
                                                                              timeout: .seconds(60))
                                            if reply.fields["connected"]?.boolValue == true {
                                                tally.answered()
                                            } else {
                                                tally.lost("answered not connected: \(String(decoding: reply.raw, as: UTF8.self))")
                                            }
                                        } catch let error as RPCError {
                                            tally.lost("\(error)")
                                        } catch {
                                            tally.unconfirmed()  // the publish failed: the sender knows, nothing was promised
                                        }
                                    }
                                }
                            }
                        }
                    }
                    func answeredGrows() async -> Bool {
                        let before = tally.snapshot.answered
                        let deadline = ContinuousClock.now + .seconds(30)
                        while ContinuousClock.now < deadline {
                            if tally.snapshot.answered >= before + 60 { return true }
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                        return false
                    }
                    #expect(await answeredGrows())

                    // The node the worker is connected to dies: it moves to the next address within its backoff.
                    try TestCluster.kill(node: 1)
                    #expect(await connectedTo(5682), "the worker did not move to node 2: \(worker.logTail())")
                    #expect(await answeredGrows(), "no pings answered after the failover")
                    try TestCluster.restart(node: 1)
                    #expect(await answeredGrows())

                    // A node the worker is not connected to dies and comes back: no error at all.
                    let lostBefore = connectionsLost()
                    try TestCluster.kill(node: 1)
                    #expect(await answeredGrows())
                    try TestCluster.restart(node: 1)
                    #expect(await answeredGrows())
                    #expect(connectionsLost() == lostBefore, "the worker lost its connection to node 2")

                    running.store(false, ordering: .relaxed)
                    await load.value
                    let final = tally.snapshot
                    #expect(final.lost.isEmpty, "confirmed requests without an answer: \(final.lost.prefix(5))")
                    #expect(final.answered + final.unconfirmed + final.lost.count == final.sent)
                    // Redeliveries of answered requests are answered from the dedupe window, not by pinging the host
                    // again. Only the deliveries in flight when node 1 died (at most the prefetch, 64) may run twice:
                    // their replies were never confirmed (the publishing connection died with the node), so they were
                    // not answers yet.
                    #expect(agent.receivedRequests(path: "/host/ping").count <= final.sent + 64)
                } catch {
                    running.store(false, ordering: .relaxed)
                    Issue.record("worker log:\n\(worker.logTail())")
                    await worker.stop()
                    await client.close()
                    await connection.close()
                    await store.close()
                    try? TestCluster.restart(node: 1)
                    throw error
                }
                await worker.stop()
                await client.close()
                await connection.close()
                await store.close()
            }
        }
    }

    @Test("a quorum service queue feeds one consumer at a time: a drain of a live worker gets nothing until it goes")
    func quorumServiceQueueHasOneActiveConsumer() async throws {
        // What DepartedQueueDrain relies on. Quorum queues (3.10) ignore basic.consume's exclusive flag, so the
        // worker's service queues are single-active-consumer: the second consumer waits as a standby.
        let node = NodeUUID.random()
        let owner = AMQPConnection(configuration: try TestCluster.configuration(node: 2))
        let drain = AMQPConnection(configuration: try TestCluster.configuration(node: 3))
        try await owner.start()
        try await drain.start()
        try await withTeardown({ await owner.close(); await drain.close() }) {
            try await owner.declare(BusTopology.worker(
                node: node, services: [ServiceID.hostService], queues: WorkerQueueOptions(kind: .quorum)))
            let queue = ServiceID(service: ServiceID.hostService, node: node).queueName
            func publish(_ text: String) async throws {
                #expect(try await owner.publish(OutgoingMessage(
                    exchange: BusNames.p2pExchange, routingKey: queue, body: Array(text.utf8), mandatory: true))
                    == .confirmed)
            }
            let owned = try await owner.consume(ConsumerSpecification(queue: queue, exclusive: true))
            let drained = try await drain.consume(ConsumerSpecification(queue: queue, exclusive: true))
            let ownerDeliveries = StreamCollector(owned)
            let drainDeliveries = StreamCollector(drained)
            // Round-robin would split these between the two; one active consumer takes all four.
            for number in 1...4 { try await publish("to the owner \(number)") }
            for number in 1...4 {
                let delivery = await ownerDeliveries.next(within: .seconds(10))
                #expect(delivery.map { String(decoding: $0.body, as: UTF8.self) } == "to the owner \(number)")
                if let delivery { owner.ack(delivery.tag) }
            }
            #expect(await drainDeliveries.next(within: .milliseconds(300)) == nil, "the standby drain got a message")
            // The owner goes (a worker that really died): the drain becomes the active consumer.
            await owner.stopConsuming()
            try await publish("to the drain")
            let second = await drainDeliveries.next(within: .seconds(10))
            #expect(second.map { String(decoding: $0.body, as: UTF8.self) } == "to the drain")
            if let second { drain.ack(second.tag) }
        }
    }

    @Test("a message that crashes the worker is refused as poison at the delivery limit; the worker keeps serving")
    func poisonIsRefusedAtTheDeliveryLimit() async throws {
        // Quorum queues count the returns themselves (x-delivery-count).
        try await PoisonScenario.run(
            worker: ["CLOUDBUS_AMQP_URL": try TestCluster.url(node: 1), "CLOUDBUS_QUEUE_TYPE": "quorum"],
            client: try TestCluster.configuration(node: 2),
            probe: try await DeadLetterProbe.open(configuration: try TestCluster.configuration(node: 3)))
    }
}

@Suite("Broker cluster under test")
struct BrokerClusterConfiguredTests {
    @Test("make test runs the cluster suites (three nodes, quorum queues)",
          .enabled(if: ProcessInfo.processInfo.environment["CLOUDBUS_TEST_REQUIRE_CLUSTER"] == "1"))
    func clusterIsConfiguredInCI() {
        #expect(TestCluster.available,
                "make test sets CLOUDBUS_TEST_CLUSTER_URLS and CLOUDBUS_CLUSTER_CTL; without them the cluster suites are skipped")
    }
}
