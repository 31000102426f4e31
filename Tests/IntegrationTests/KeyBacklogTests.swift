import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// A hung key keeps at most `keyBacklog` requests (and prefetch slots): the rest are answered at once with an error
/// the sender can retry on, and copied to the dead-letter queue; every other key keeps being served.
@Suite("Backlog bound per key", .enabled(if: TestBroker.available))
struct KeyBacklogTests {
    @Test("behind a hung key two requests wait, the next are refused at once, other keys are served, the waiting ones answered later",
          .timeLimit(.minutes(2)))
    func hungKeyBacklogIsBounded() async throws {
        let gate = HandlerGate()
        try await withWorker(configure: { $0.keyBacklog = 2 },
                             extraHandlers: { $0.register(HangHandler(gate: gate)) }) { harness in
            let collector = try await ReplyCollector.open(durable: false)
            let probe = try await DeadLetterProbe.open()
            try await withTeardown({ gate.open(); await probe.close(); await collector.close() }) {
                let publisher = BusPublisher(connection: collector.connection)
                let stuck = MessageID.random()
                func hung() -> BusRequest {
                    BusRequest(className: HangMsg.className, fields: ["hostUuid": .string(stuck), "hang": .bool(true)])
                }
                func send(_ request: BusRequest) async throws {
                    collector.expect(request.id)
                    try await publisher.send(body: request.body(service: harness.hostService, replyTo: collector.inbox,
                                                                timeout: .seconds(60)), to: harness.hostService)
                }
                let first = hung()
                try await send(first)
                try #require(try await eventually { gate.hangingStarts(for: stuck) == 1 }, "the first never started")
                let waiting = [hung(), hung()]
                for request in waiting { try await send(request) }
                try #require(try await eventually { harness.worker.executorQueueDepth(for: stuck) == 2 })
                let refused = [hung(), hung()]
                for request in refused { try await send(request) }

                let refusedAnswered = await collector.waitUntil(within: .seconds(20)) { collector in
                    refused.allSatisfy { collector.isAnswered($0.id) }
                }
                #expect(refusedAnswered, "the requests over the backlog were not answered at once")
                for request in refused {
                    #expect(collector.entry(for: request.id)?.errorCode == "SYS.1006")
                    let letter = try await probe.find { $0.header("x-cbw-message-id") == request.id }
                    #expect(letter?.header("x-cbw-reason") == "key-backlog-full")
                }
                let echo = try await harness.call(EchoMsg.className, ["payload": .string("another key")])
                #expect(echo.success, "another key was not served while one key hung")
                #expect(!waiting.contains { collector.isAnswered($0.id) }, "a request behind the hung one ran early")

                gate.open()
                let drained = await collector.waitUntil(within: .seconds(30)) { collector in
                    ([first] + waiting).allSatisfy { collector.entry(for: $0.id)?.success == true }
                }
                #expect(drained, "the requests that waited behind the hung one were not answered")
                // A refusal for a full backlog is not remembered as the answer: a retry with the same id runs.
                let retry = try await harness.call(HangMsg.className, [
                    "hostUuid": .string(stuck), "hang": .bool(false), "id": .string(refused[0].id),
                ])
                #expect(retry.success, "the retry of a request refused for a full backlog was not handled afresh")
                #expect(harness.metrics[WorkerCounter.keyBacklogFull] == 2)
            }
        }
    }
}
