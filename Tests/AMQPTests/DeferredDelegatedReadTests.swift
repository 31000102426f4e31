import AMQP
import CloudBusTesting
import Synchronization
import Testing

/// A reader that defers its delegators' reads (`deferDelegatedReads(upTo:while:)`): a confirm that may wait is read
/// when the reader wakes for its next delivery, none is lost, and a closed gate defers nothing. The bound is far longer
/// than the test, so a confirm read before it passed was read with a delivery (or by the publisher's own thread, whose
/// poll still times out every second: the counter, not the timing, says whether a sleep was deferred).
@Suite("Deferred delegated reads on the real broker", .enabled(if: TestBroker.available), .serialized)
struct DeferredDelegatedReadTests {
    private final class Gate: Sendable {
        let open = Atomic<Bool>(true)
    }

    @Test("replies' confirms are read with the next delivery, none lost; with the gate closed no sleep defers")
    func repliesConfirmWithTheNextDelivery() async throws {
        try await withDelegatingPublisher(queue: "test.deferred") { reader, publisher, queue in
            let gate = Gate()
            reader.deferDelegatedReads(upTo: .seconds(120)) { gate.open.load(ordering: .relaxed) }
            // Requests come from a connection of their own: the publisher's only confirms are the replies'.
            let requester = AMQPConnection(configuration: try TestBroker.configuration())
            try await withTeardown({ await requester.close() }) {
                try await requester.start()
                let replies = TestBroker.uniqueName("test.deferred-replies")
                try await requester.declare(Topology(queues: [QueueDeclaration(name: replies, autoDelete: true)]))
                let sink = StreamCollector(
                    try await requester.consume(ConsumerSpecification(queue: replies, noAck: true)))
                let deliveries = try await reader.consume(ConsumerSpecification(queue: queue, noAck: true))

                // Each delivery answered from the reader's thread, as the worker answers: a reply that may wait.
                func round(_ count: Int) async throws -> [PublishOutcome?] {
                    let answering = Task(executorPreference: reader.taskExecutor) {
                        var pending: [Task<PublishOutcome?, Never>] = []
                        for await delivery in deliveries {
                            pending.append(Task(executorPreference: reader.taskExecutor) {
                                try? await publisher.publish(OutgoingMessage(
                                    exchange: "", routingKey: replies, body: delivery.body, mandatory: true,
                                    confirmMayWait: true))
                            })
                            if pending.count == count { break }
                        }
                        var outcomes: [PublishOutcome?] = []
                        for task in pending { outcomes.append(await task.value) }
                        return outcomes
                    }
                    for number in 0..<count {
                        #expect(try await requester.publish(OutgoingMessage(
                            exchange: "", routingKey: queue, body: Array("\(number)".utf8), mandatory: true))
                            == .confirmed)
                    }
                    for _ in 0..<count { _ = try #require(await sink.next(within: .seconds(30))) }
                    return await answering.value
                }

                let deferredBefore = reader.statistics.deferredDelegatedReads
                let open = try await round(20)
                #expect(open.count == 20 && open.allSatisfy { $0 == .confirmed })
                let deferred = reader.statistics.deferredDelegatedReads
                #expect(deferred > deferredBefore, "no sleep put off the replies' confirms")

                gate.open.store(false, ordering: .relaxed)
                let closed = try await round(20)
                #expect(closed.count == 20 && closed.allSatisfy { $0 == .confirmed })
                #expect(reader.statistics.deferredDelegatedReads == deferred, "a sleep deferred with the gate closed")
            }
        }
    }
}
