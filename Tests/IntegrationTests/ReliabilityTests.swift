import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Glibc
import KeyedExecution
import Primitives
import Testing
import Worker

/// The reliability promises, tested for real: a worker killed with `kill -9` under load,
/// a broker restarted under load, and a handler that hangs. Each test is bounded in count and
/// time and cleans up after itself (processes, broker state, handler tasks).
/// Kills workers and restarts the broker: run alone (scripts/run-tests.sh), never beside other broker tests.
@Suite("Reliability on the real broker (disruptive)", .enabled(if: TestBroker.available), .serialized)
struct DisruptiveReliabilityTests {
    // MARK: kill -9 under load

    @Test("kill -9 under load: every request answered, duplicates only from unacked work and identical",
          .timeLimit(.minutes(5)))
    func killNineUnderLoad() async throws {
        let total = 10_000
        let prefetch = 256
        let killAfterReplies = 2_000
        let node = NodeUUID.random()
        let service = "\(ServiceID.hostService).\(node.rawValue)"
        let dataDirectory = NSTemporaryDirectory() + "cbw-kill9-\(node.rawValue)"
        let collector = try await ReplyCollector.open(durable: false)
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 100)
        try await connection.start()
        let probe = RPCClient(connection: connection)
        try await probe.start()
        var workers: [WorkerProcess] = []
        func cleanUp() async {
            for worker in workers { await worker.stop() }
            await probe.close()
            await connection.close()
            await collector.close()
            try? FileManager.default.removeItem(atPath: dataDirectory)
        }
        do {
            let first = try WorkerProcess.launch(node: node, dataDirectory: dataDirectory, prefetch: prefetch, generation: 1)
            workers.append(first)
            try #require(await Self.waitUntilServing(probe, service: service, within: .seconds(60)),
                         "worker never served: \(first.logTail())")

            let requests = (0..<total).map { _ in BusRequest.echo() }
            for request in requests { collector.expect(request.id) }
            let publisher = BusPublisher(connection: connection, persistent: true)
            let inbox = collector.inbox
            // Confirmed publishes, many in flight, no waiting for replies.
            let load = Task {
                try await Self.publishAll(requests, window: 128) { request in
                    try await publisher.send(body: request.body(service: service, replyTo: inbox, timeout: .seconds(300)),
                                             to: service)
                }
            }

            try #require(await collector.waitUntil(within: .seconds(90)) { $0.answeredCount >= killAfterReplies },
                         "no \(killAfterReplies) replies before the kill: \(first.logTail())")
            let signal = await first.killHard()
            let answeredAtKill = collector.answeredCount
            #expect(signal == SIGKILL)
            #expect(answeredAtKill < total, "the kill must hit requests still in flight")

            let second = try WorkerProcess.launch(node: node, dataDirectory: dataDirectory, prefetch: prefetch, generation: 2)
            workers.append(second)
            let confirmed = try await load.value
            #expect(confirmed == total, "every request is confirmed by the broker (persistent, durable queue)")
            let allAnswered = await collector.waitForAll(within: .seconds(120))
            // Late duplicates of unacked work come early after the restart; a short settle lets
            // the count below include any straggler.
            try await Task.sleep(for: .milliseconds(500))

            let summary = collector.summary
            #expect(allAnswered, "unanswered: \(summary.expected - summary.answered), e.g. \(collector.unanswered.prefix(3)); worker: \(second.logTail())")
            #expect(summary.answered == total)
            #expect(summary.extraReplies <= prefetch, "duplicates beyond what could be unacked at the kill")
            #expect(summary.divergentCopies == 0, "a duplicate reply differs from the first")
            #expect(summary.unknown == 0)
            #expect(summary.unparsable == 0)
            #expect(summary.inboxRedeliveries == 0)
            let wrong = requests.filter { request in
                guard let entry = collector.entry(for: request.id) else { return false }
                return !entry.success || entry.payload != request.id || entry.className != EchoReply.className
            }
            #expect(wrong.isEmpty, "replies not echoing their request: \(wrong.prefix(3).map(\.id))")
            print("kill -9: \(total) requests, killed at \(answeredAtKill) replies, duplicates \(summary.extraReplies) over \(summary.duplicatedIds) ids")
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    // MARK: broker restart under load

    @Test("broker restart under load: the worker reconnects by itself and every confirmed request is answered",
          .enabled(if: BrokerOutage.available), .timeLimit(.minutes(5)))
    func brokerRestartUnderLoad() async throws {
        let total = 2_000
        let stopAfterConfirms = 400
        let harness = try await WorkerHarness.start { $0.durableQueues = true }
        let collector = try await ReplyCollector.open(durable: true)
        // Replies that wait in a durable inbox nobody consumes until the broker is back.
        let waitingInbox = try await ReplyCollector.open(durable: true, consuming: false)
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 10)
        try await connection.start()
        func cleanUp() async {
            // Bounded: a close drained together with a failing command may never return.
            _ = try? await BoundedWait.run(within: .seconds(60)) {
                await connection.close()
                await waitingInbox.close()
                await collector.close()
                await harness.stop()
            }
        }
        do {
            let publisher = BusPublisher(connection: connection, persistent: true)
            let service = harness.hostService
            let waiting = (0..<20).map { _ in BusRequest.echo() }
            for request in waiting {
                waitingInbox.expect(request.id)
                let outcome = try await publisher.send(
                    body: request.body(service: service, replyTo: waitingInbox.inbox, timeout: .seconds(180)), to: service)
                #expect(outcome == .confirmed)
            }
            // Handled, replied (confirmed) and so acked, before any other load.
            try #require(try await eventually(within: .seconds(30)) {
                harness.metrics[WorkerCounter.replies] >= waiting.count
            })
            let tally = SendTally()
            // A steady client at a modest rate (about 80 requests/s, so the load spans the outage):
            // a few lanes, each sending one request at a time and retrying it until confirmed.
            let lanes = 4
            let sendingDeadline = ContinuousClock.now + .seconds(150)
            let sender = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<lanes {
                        group.addTask {
                            for _ in 0..<(total / lanes) {
                                try await Self.sendUntilConfirmed(BusRequest.echo(), publisher: publisher, service: service,
                                                                  collector: collector, tally: tally, until: sendingDeadline)
                                try await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }

            try #require(try await eventually(within: .seconds(60)) { tally.confirmedCount >= stopAfterConfirms })
            let outage = try await BrokerOutage.stopAndRestart(downtime: .seconds(2))
            let reconnected = try await eventually(within: .seconds(60)) {
                let statistics = harness.worker.connection.statistics
                return statistics.reconnects >= 1 && statistics.connected
            }
            #expect(reconnected, "worker did not reconnect: \(harness.worker.connection.statistics)")
            #expect(try await eventually(within: .seconds(60)) { harness.clientConnection.statistics.connected })
            try await sender.value
            let confirmedIds = tally.confirmedIds
            #expect(confirmedIds.count == total, "the client retries every request until it is confirmed")
            #expect(tally.failedAttempts > 0, "the outage must have hit the load")

            let allAnswered = await collector.waitUntil(within: .seconds(90)) { collector in
                confirmedIds.allSatisfy { collector.isAnswered($0) }
            }
            let lost = confirmedIds.filter { !collector.isAnswered($0) }
            let stuckJobs = harness.worker.executorStatistics.map { $0.runningJobs + $0.abandonedJobsRunning } ?? 0
            #expect(allAnswered, "\(lost.count) confirmed requests never answered, e.g. \(lost.prefix(3)); stuck jobs \(stuckJobs)")
            #expect(tally.unreturnedAttempts == 0, "every publish attempt returned (confirmed or failed)")
            let wrong = confirmedIds.filter { id in
                guard let entry = collector.entry(for: id) else { return false }
                return !entry.success || entry.payload != id
            }
            #expect(wrong.isEmpty, "replies not echoing their request: \(wrong.prefix(3))")
            #expect(collector.summary.unknown == 0)

            // The replies acked work left in a durable inbox before the outage must still be there.
            try await waitingInbox.startConsuming()
            let waitingAnswered = await waitingInbox.waitForAll(within: .seconds(5))
            #expect(waitingAnswered, "\(waitingInbox.summary.answered) of \(waiting.count) waiting replies survived")

            // And it serves new work on the new connection.
            let reply = try await harness.call(EchoMsg.className, ["payload": .string("after-restart")])
            #expect(reply.success)
            #expect(reply.fields["payload"]?.stringValue == "after-restart")
            let statistics = harness.worker.connection.statistics
            print("""
                broker restart: \(total) requests, \(tally.failedAttempts) failed publish attempts \
                (\(tally.unreturnedAttempts) never returned), \
                down \(outage.stopped.duration(to: outage.backUp)), worker reconnects \(statistics.reconnects), \
                stale acks dropped \(statistics.staleAcksDropped), duplicates \(collector.summary.extraReplies)
                """)
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    // MARK: hanging handler

    @Test("a hanging handler blocks only its key: others answered first, the hung get SYS.1001, the key recovers",
          .timeLimit(.minutes(3)))
    func hangingHandler() async throws {
        let gate = HandlerGate()
        let harness = try await WorkerHarness.start(extraHandlers: { $0.register(HangHandler(gate: gate)) })
        let collector = try await ReplyCollector.open(durable: false)
        // Open before the hung calls go out: a probe sees what is dead-lettered after it opened.
        let probe = try await DeadLetterProbe.open()
        func cleanUp() async {
            gate.open()
            await probe.close()
            await collector.close()
            await harness.stop()
        }
        do {
            let publisher = BusPublisher(connection: collector.connection)
            let service = harness.hostService
            let inbox = collector.inbox
            let stuckHost = MessageID.random()
            let hung = (0..<3).map { _ in
                BusRequest(className: HangMsg.className, fields: ["hostUuid": .string(stuckHost), "hang": .bool(true)])
            }
            for request in hung {
                collector.expect(request.id)
                try await publisher.send(body: request.body(service: service, replyTo: inbox, timeout: .seconds(10)),
                                         to: service)
            }
            try #require(try await eventually { gate.hangingStarts(for: stuckHost) == 1 }, "the first hung call never started")

            let echoes = (0..<200).map { _ in BusRequest.echo() }
            let otherHosts = (0..<20).map { _ in
                BusRequest(className: HangMsg.className, fields: ["hostUuid": .string(MessageID.random()), "hang": .bool(false)])
            }
            let others = echoes + otherHosts
            for request in others { collector.expect(request.id) }
            _ = try await Self.publishAll(others, window: 32) { request in
                try await publisher.send(body: request.body(service: service, replyTo: inbox, timeout: .seconds(60)),
                                         to: service)
            }

            let othersAnswered = await collector.waitUntil(within: .seconds(60)) { collector in
                others.allSatisfy { collector.isAnswered($0.id) }
            }
            #expect(othersAnswered)
            let hungAnswered = await collector.waitUntil(within: .seconds(60)) { collector in
                hung.allSatisfy { collector.isAnswered($0.id) }
            }
            #expect(hungAnswered)

            // Order, not time: the stuck key held nobody else up.
            let lastOther = others.compactMap { collector.entry(for: $0.id)?.arrival }.max()
            let firstHung = hung.compactMap { collector.entry(for: $0.id)?.arrival }.min()
            #expect(lastOther != nil && firstHung != nil && lastOther! < firstHung!,
                    "another key's reply came after the stuck key's timeout (last other \(String(describing: lastOther)), first hung \(String(describing: firstHung)))")
            for request in echoes {
                let entry = collector.entry(for: request.id)
                #expect(entry?.success == true && entry?.payload == request.id)
            }
            for request in otherHosts { #expect(collector.entry(for: request.id)?.success == true) }
            for request in hung {
                let entry = collector.entry(for: request.id)
                #expect(entry?.success == false)
                #expect(entry?.errorCode == "SYS.1001")
                let letter = try await probe.find { $0.header("x-cbw-message-id") == request.id }
                #expect(["deadline-exceeded", "expired"].contains(letter?.header("x-cbw-reason") ?? "none"))
            }
            #expect(harness.metrics[WorkerCounter.deadlineExceeded] + harness.metrics[WorkerCounter.expired] == hung.count)
            #expect(harness.metrics[WorkerCounter.deadlineExceeded] >= 1)

            // After the deadline the key serves again, although the first handler never returned.
            let recovery = BusRequest(className: HangMsg.className, fields: ["hostUuid": .string(stuckHost), "hang": .bool(false)])
            collector.expect(recovery.id)
            try await publisher.send(body: recovery.body(service: service, replyTo: inbox, timeout: .seconds(10)), to: service)
            #expect(await collector.waitUntil(within: .seconds(30)) { $0.isAnswered(recovery.id) })
            #expect(collector.entry(for: recovery.id)?.success == true)
            #expect(gate.promptStarts(for: stuckHost) == 1)
            #expect(collector.summary.unknown == 0)
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    // MARK: Helpers

    /// Runs `publish` for every request with at most `window` in flight; returns how many the
    /// broker confirmed (a returned message counts as not confirmed). Throws the first failure.
    private static func publishAll(_ requests: [BusRequest], window: Int,
                                   _ publish: @escaping @Sendable (BusRequest) async throws -> PublishOutcome) async throws -> Int {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var confirmed = 0
            var inFlight = 0
            for request in requests {
                if inFlight >= window, let done = try await group.next() {
                    inFlight -= 1
                    if done { confirmed += 1 }
                }
                group.addTask { try await publish(request) == .confirmed }
                inFlight += 1
            }
            for try await done in group where done { confirmed += 1 }
            return confirmed
        }
    }

    /// Publishes `request` (persistent) until the broker confirms it, retrying every 100 ms until
    /// `deadline`; failed attempts (connection lost while the broker is down, returned, or never
    /// returning within 15 s) are tallied.
    private static func sendUntilConfirmed(_ request: BusRequest, publisher: BusPublisher, service: String,
                                           collector: ReplyCollector, tally: SendTally,
                                           until deadline: ContinuousClock.Instant) async throws {
        collector.expect(request.id)
        let body = try request.body(service: service, replyTo: collector.inbox, timeout: .seconds(180))
        while ContinuousClock.now < deadline {
            do {
                let outcome = try await BoundedWait.run(within: .seconds(15)) {
                    try await publisher.send(body: body, to: service)
                }
                if outcome == .confirmed {
                    tally.confirmed(request.id)
                    return
                }
                tally.failedAttempt()
            } catch is BoundedWait.GaveUp {
                tally.failedAttempt(unreturned: true)
            } catch {
                tally.failedAttempt()
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Polls with an echo until the worker answers or `limit` passes.
    /// Polls with echoes until the worker answers (shared with the other process-level suites).
    static func waitUntilServing(_ client: RPCClient, service: String, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let body = try? JSONValue.object([EchoMsg.className: .object(["payload": .string("ready?")])]).jsonData(),
               let reply = try? await client.call(envelope: body, to: .service(service), timeout: .seconds(2)),
               reply.success {
                return true
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
