import AMQP
import CloudBusTesting
import Foundation
import Testing

/// Tasks that prefer a connection's `taskExecutor` run on its owner thread while it serves a connection, and anywhere
/// else otherwise — they never wait for that thread.
@Suite("Tasks on a connection's owner thread", .enabled(if: TestBroker.available), .serialized)
struct OwnerThreadExecutorTests {
    @Test("on the owner thread while it serves (also after awaiting a confirm); on the pool before start and after close")
    func runsWhereExpected() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), logger: .quiet)
        let executor = connection.taskExecutor
        // Bounded: were such a task queued for a thread that is not serving, it would never run.
        let beforeStart = try await withinSafetyBound(.seconds(10)) {
            await Task(executorPreference: executor) { executor.isCurrentThread }.value
        }
        #expect(beforeStart == false, "not started: the task runs on the pool")
        try await withTeardown({ await connection.close() }) {
            try await connection.start()
            let queue = TestBroker.uniqueName("test.owner-thread")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            let (before, after) = try await withinSafetyBound(.seconds(10)) {
                try await Task(executorPreference: executor) {
                    let before = executor.isCurrentThread
                    // Suspends until the confirm, which the same thread reads: the task resumes there.
                    try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: [1]))
                    return (before, executor.isCurrentThread)
                }.value
            }
            #expect(before && after)
            #expect(!executor.isCurrentThread, "the test's own task is not on that thread")
        }
        let afterClose = try await withinSafetyBound(.seconds(10)) {
            await Task(executorPreference: executor) { executor.isCurrentThread }.value
        }
        #expect(afterClose == false, "closed: the task runs on the pool")
    }

    @Test("a consumer on the owner thread acks from there: 500 messages pass a prefetch of 10")
    func acksPostedFromTheOwnerThreadGoOut() async throws {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10, logger: .quiet)
        let publisher = AMQPConnection(configuration: try TestBroker.configuration(), logger: .quiet)
        try await withTeardown({ await connection.close(); await publisher.close() }) {
            try await connection.start()
            try await publisher.start()
            let queue = TestBroker.uniqueName("test.owner-acks")
            try await connection.declare(Topology(queues: [QueueDeclaration(name: queue, autoDelete: true)]))
            let deliveries = try await connection.consume(ConsumerSpecification(queue: queue))
            let count = 500
            let executor = connection.taskExecutor
            // Every ack is posted by a task on the owner thread itself (no eventfd wake-up): with only 10 deliveries
            // unacked at a time, the 11th arrives only if the acks of the first went out.
            let consumer = Task(executorPreference: executor) { () -> (received: Int, offThread: Int) in
                var received = 0, offThread = 0
                for await delivery in deliveries {
                    if !executor.isCurrentThread { offThread += 1 }
                    connection.ack(delivery.tag)
                    received += 1
                    if received == count { break }
                }
                return (received, offThread)
            }
            for index in 0..<count {
                publisher.publishWithoutConfirm(OutgoingMessage(exchange: "", routingKey: queue, body: Array("\(index)".utf8)))
            }
            let result = try await withinSafetyBound(.seconds(30)) { await consumer.value }
            #expect(result.received == count)
            #expect(result.offThread == 0)
        }
    }

    @Test("publishes that tasks on one connection's owner thread post to another go out before that thread sleeps, confirmed")
    func publishesFromAnotherOwnerThread() async throws {
        let consuming = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 50, logger: .quiet)
        let publishing = AMQPConnection(configuration: try TestBroker.configuration(), logger: .quiet)
        try await withTeardown({ await consuming.close(); await publishing.close() }) {
            try await consuming.start()
            try await publishing.start()
            let requests = TestBroker.uniqueName("test.cross-owner.requests")
            let replies = TestBroker.uniqueName("test.cross-owner.replies")
            try await consuming.declare(Topology(queues: [QueueDeclaration(name: requests, autoDelete: true),
                                                          QueueDeclaration(name: replies, autoDelete: true)]))
            let replyStream = StreamCollector(try await publishing.consume(ConsumerSpecification(queue: replies, noAck: true)))
            let deliveries = try await consuming.consume(ConsumerSpecification(queue: requests))
            let count = 300
            let executor = consuming.taskExecutor
            // Each request answered by a task of its own on the consuming thread: a pass runs many of them, and their
            // publishes to the other connection leave together when the pass ends.
            let consumer = Task(executorPreference: executor) { () -> Int in
                await withTaskGroup(of: Bool.self) { group in
                    var received = 0
                    for await delivery in deliveries {
                        group.addTask(executorPreference: executor) {
                            let outcome = try? await publishing.publish(
                                OutgoingMessage(exchange: "", routingKey: replies, body: delivery.body))
                            consuming.ack(delivery.tag)
                            return outcome == .confirmed && executor.isCurrentThread
                        }
                        received += 1
                        if received == count { break }
                    }
                    var confirmedOnThread = 0
                    for await ok in group where ok { confirmedOnThread += 1 }
                    return confirmedOnThread
                }
            }
            for index in 0..<count {
                consuming.publishWithoutConfirm(OutgoingMessage(exchange: "", routingKey: requests,
                                                                body: Array("\(index)".utf8)))
            }
            #expect(try await withinSafetyBound(.seconds(30)) { await consumer.value } == count)
            var bodies = Set<String>()
            for _ in 0..<count {
                guard let reply = await replyStream.next(within: .seconds(30)) else { break }
                bodies.insert(String(decoding: reply.body, as: UTF8.self))
            }
            #expect(bodies == Set((0..<count).map { "\($0)" }))
            // Written by the consuming thread (borrowed passes), not left for the publishing connection's thread, and
            // several in one pass's write (one pass per publish would mean each was written as it was posted).
            let statistics = publishing.statistics
            #expect(statistics.borrowedPublishes > 0)
            #expect(statistics.borrowedPasses < statistics.borrowedPublishes,
                    "\(statistics.borrowedPublishes) publishes in \(statistics.borrowedPasses) passes")
        }
    }

    @Test("while the connection is down, its tasks run on the pool instead of waiting for it")
    func tasksRunWhileDisconnected() async throws {
        var configuration = try TestBroker.configuration()
        let proxy = try LoopbackProxy(forwardingTo: configuration.port)
        configuration.endpoints = [proxy.endpoint]
        configuration.reconnectInitialDelay = .seconds(5)
        let connection = AMQPConnection(configuration: configuration, logger: .quiet)
        try await withTeardown({ await connection.close(); proxy.close() }) {
            try await connection.start()
            let executor = connection.taskExecutor
            #expect(try await withinSafetyBound(.seconds(10)) {
                await Task(executorPreference: executor) { executor.isCurrentThread }.value
            })
            proxy.close()
            try await withinSafetyBound(.seconds(10)) {
                while connection.statistics.connected { try await Task.sleep(for: .milliseconds(10)) }
            }
            // The owner thread backs off (5 s) before its next connect: the task must not wait for it.
            let ranOnOwner = try await withinSafetyBound(.seconds(2)) {
                await Task(executorPreference: executor) { executor.isCurrentThread }.value
            }
            #expect(ranOnOwner == false)
        }
    }
}
