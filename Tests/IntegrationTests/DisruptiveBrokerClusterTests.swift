import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Synchronization
import Testing
import Worker

/// The worker on the three-node RabbitMQ cluster `make test` starts (`scripts/broker-cluster.sh`), with quorum queues.
/// Serial phase: these tests kill broker nodes and worker processes.
@Suite("The worker on a three-node RabbitMQ cluster", .enabled(if: TestCluster.available), .serialized)
struct DisruptiveBrokerClusterTests {
    private func echo(_ payload: String) throws -> Data {
        try JSONValue.object([EchoMsg.className: .object(["payload": .string(payload)])]).jsonData()
    }

    @Test("a message that crashes the worker is refused as poison at the delivery limit; the worker keeps serving")
    func poisonIsRefusedAtTheDeliveryLimit() async throws {
        let root = NSTemporaryDirectory() + "cbw-poison-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = NodeUUID.random()
        let poison = "poison-\(MessageID.random())"
        let environment = [
            "CLOUDBUS_AMQP_URL": TestCluster.urls[0],
            "CLOUDBUS_QUEUE_TYPE": "quorum",
            "CLOUDBUS_DELIVERY_LIMIT": "2",
            "CLOUDBUS_TEST_CRASH_ON_PAYLOAD": poison,
        ]
        var generation = 0
        func launch() throws -> WorkerProcess {
            generation += 1
            return try WorkerProcess.launch(node: node, dataDirectory: root, prefetch: 16, generation: generation,
                                            environment: environment)
        }
        var worker = try launch()
        let connection = AMQPConnection(configuration: try TestCluster.configuration(node: 2))
        try await connection.start()
        let client = RPCClient(connection: connection)
        try await client.start()
        let probe = try await DeadLetterProbe.open(configuration: try TestCluster.configuration(node: 3), quorum: true)
        let service = "\(ServiceID.hostService).\(node.rawValue)"
        do {
            try #require(await DisruptiveReliabilityTests.waitUntilServing(client, service: service, within: .seconds(60)),
                         "the worker never served: \(worker.logTail())")
            let answered = Atomic(false)
            let answer = Task {
                defer { answered.store(true, ordering: .relaxed) }
                return try await client.call(envelope: try echo(poison), to: .service(service), timeout: .seconds(120))
            }
            // Each delivery of the poison ends the process (as systemd would, the test starts it again): two crashes,
            // then the third delivery carries x-delivery-count 2 and is refused before the handler runs.
            var crashes = 0
            let deadline = ContinuousClock.now + .seconds(120)
            while !answered.load(ordering: .relaxed), crashes < 4, ContinuousClock.now < deadline {
                if worker.isRunning {
                    try await Task.sleep(for: .milliseconds(50))
                    continue
                }
                #expect(worker.terminationStatus == 86, "the worker ended otherwise: \(worker.logTail())")
                crashes += 1
                worker = try launch()
            }
            #expect(crashes == 2, "crashes before the refusal (deliveryLimit 2)")
            let reply = try await answer.value
            #expect(!reply.success)
            #expect(String(decoding: reply.raw, as: UTF8.self).contains("delivered 3 times without being settled"))
            let copy = try await probe.find(within: .seconds(15)) { delivery in
                delivery.header("x-cbw-reason") == "poison"
                    && String(decoding: delivery.body, as: UTF8.self).contains(poison)
            }
            #expect(copy != nil, "no dead-letter copy of the poison message")
            // And the worker serves everything else.
            let fine = try await client.call(envelope: try echo("fine"), to: .service(service), timeout: .seconds(20))
            #expect(fine.success && fine.fields["payload"]?.stringValue == "fine")
            #expect(worker.isRunning)
        } catch {
            Issue.record("worker log:\n\(worker.logTail())")
            await worker.stop()
            await probe.close()
            await client.close()
            await connection.close()
            throw error
        }
        await worker.stop()
        await probe.close()
        await client.close()
        await connection.close()
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
