import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Synchronization
import Testing
import Worker

/// A worker process whose echo handler crashes on one payload (the test-only switch), restarted after each crash as
/// systemd would: with `deliveryLimit` 2 it crashes twice, then refuses the third delivery as poison — an error
/// reply naming the count, a dead-letter copy with reason `poison` — and keeps serving everything else.
enum PoisonScenario {
    static func run(worker extra: [String: String], client configuration: AMQPConfiguration,
                    probe: DeadLetterProbe) async throws {
        let root = NSTemporaryDirectory() + "cbw-poison-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let node = NodeUUID.random()
        let poison = "poison-\(MessageID.random())"
        var environment = ["CLOUDBUS_DELIVERY_LIMIT": "2", "CLOUDBUS_TEST_CRASH_ON_PAYLOAD": poison]
        environment.merge(extra) { $1 }
        var generation = 0
        func launch() throws -> WorkerProcess {
            generation += 1
            return try WorkerProcess.launch(node: node, dataDirectory: root, prefetch: 16, generation: generation,
                                            environment: environment)
        }
        func echo(_ payload: String) throws -> Data {
            try JSONValue.object([EchoMsg.className: .object(["payload": .string(payload)])]).jsonData()
        }
        var worker = try launch()
        let connection = AMQPConnection(configuration: configuration)
        try await connection.start()
        let client = RPCClient(connection: connection)
        try await client.start()
        let service = "\(ServiceID.hostService).\(node.rawValue)"
        do {
            try #require(await DisruptiveReliabilityTests.waitUntilServing(client, service: service, within: .seconds(60)),
                         "the worker never served: \(worker.logTail())")
            let answered = Atomic(false)
            let answer = Task {
                defer { answered.store(true, ordering: .relaxed) }
                return try await client.call(envelope: try echo(poison), to: .service(service), timeout: .seconds(120))
            }
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
