import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// A broker resource alarm blocks every connection that publishes. The worker publishes on a connection of its own,
/// so its consumer keeps acking; while blocked it says so on `/readyz` (not ready), its publishes give up at the
/// confirm timeout and the messages go back to their queue; once the alarm clears it answers them. Disruptive: the
/// alarm blocks every publisher on the broker, so the suite runs alone.
@Suite("Flow control under a broker memory alarm (disruptive)", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveFlowControlTests {
    @Test("memory alarm: not ready while blocked, nothing lost, every request answered once it clears",
          .timeLimit(.minutes(3)))
    func memoryAlarm() async throws {
        let gate = HandlerGate()
        // deliveryLimit 1: a message the worker gives back during the alarm comes back redelivered, and must be
        // handled, not taken for a message that crashed a worker (those are refused as poison at the limit).
        try await withWorker(configure: { $0.amqp.confirmTimeout = .seconds(2); $0.deliveryLimit = 1 },
                             extraHandlers: { $0.register(HangHandler(gate: gate)) }) { harness in
            let collector = try await ReplyCollector.open(durable: false)
            try await withTeardown({ gate.open(); await collector.close() }) {
                #expect(harness.worker.health == .ready)
                let publisher = BusPublisher(connection: collector.connection)
                // Requests held by their handlers until the alarm is up, so that their replies meet it.
                let hosts = (0..<3).map { _ in MessageID.random() }
                let held = hosts.map {
                    BusRequest(className: HangMsg.className, fields: ["hostUuid": .string($0), "hang": .bool(true)])
                }
                for request in held {
                    collector.expect(request.id)
                    try await publisher.send(body: request.body(service: harness.hostService, replyTo: collector.inbox,
                                                                timeout: .seconds(120)), to: harness.hostService)
                }
                let started = try await eventually { hosts.allSatisfy { gate.hangingStarts(for: $0) >= 1 } }
                try #require(started, "the held requests never reached their handler")

                try TestBroker.control("memory-alarm", "on")
                try await withTeardown({ try? TestBroker.control("memory-alarm", "off") }) {
                    gate.open()
                    let blocked = try await eventually(within: .seconds(20)) { harness.worker.health == .blocked }
                    #expect(blocked, "the worker never said it was blocked: \(harness.worker.health)")
                    let timedOut = try await eventually(within: .seconds(20)) {
                        harness.worker.publishConnection.statistics.confirmTimeouts >= 1
                    }
                    #expect(timedOut, "a blocked publish waited past the confirm timeout")
                    #expect(harness.worker.connection.statistics.connected, "the consuming connection went down")
                    #expect(!held.contains { collector.isAnswered($0.id) }, "a reply got through a blocked connection")
                }
                let ready = try await eventually(within: .seconds(30)) { harness.worker.health == .ready }
                #expect(ready, "the worker did not become ready after the alarm cleared: \(harness.worker.health)")
                let answered = await collector.waitUntil(within: .seconds(60)) { collector in
                    held.allSatisfy { collector.isAnswered($0.id) }
                }
                #expect(answered, "a request held through the alarm was never answered")
                #expect(harness.metrics[WorkerCounter.poisonRefused] == 0, "a request given back was refused as poison")
            }
        }
    }
}
