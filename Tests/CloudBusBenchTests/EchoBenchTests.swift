@_spi(RawSession) import AMQP
@testable import CloudBusBench
import CloudBusTesting
import Foundation
import Testing

@Suite("Echo bench arithmetic")
struct EchoBenchArithmeticTests {
    @Test("the median is the middle value, or the mean of the two middle ones; nil when empty")
    func median() {
        #expect(BenchStatistics.median([]) == nil)
        #expect(BenchStatistics.median([7]) == 7)
        #expect(BenchStatistics.median([3, 1, 2]) == 2)
        #expect(BenchStatistics.median([4, 1, 3, 2]) == 2.5)
        #expect(BenchStatistics.median([5, .nan, 1, 9]) == 5)
        #expect(BenchStatistics.median([.nan]) == nil)
        #expect(BenchStatistics.ratio(3, 2) == 1.5)
        #expect(BenchStatistics.ratio(3, 0) == nil)
        #expect(BenchStatistics.ratio(nil, 2) == nil)
    }

    @Test("a fixed-rate schedule's due count agrees with its due times, for rates that do and do not divide a second",
          arguments: [1, 3, 7, 1000, 2000, 3333, 4000])
    func schedule(perSecond: Int) {
        let start: UInt64 = 5_000_000_000
        let schedule = FixedRateSchedule(start: start, perSecond: perSecond)
        #expect(schedule.dueTime(of: 0) == start)
        #expect(schedule.dueCount(at: start - 1) == 0)
        #expect(schedule.dueCount(at: start) == 1)
        // Request k is due exactly when dueCount passes k, at every instant around every due time.
        for index in UInt64(0)..<UInt64(min(perSecond * 2, 500)) {
            let due = schedule.dueTime(of: index)
            #expect(schedule.dueCount(at: due) == index + 1)
            if due > start { #expect(schedule.dueCount(at: due - 1) == index) }
        }
        // No drift: one second holds exactly `perSecond` requests, and so does the next.
        #expect(schedule.count(before: start + 1_000_000_000) == UInt64(perSecond))
        #expect(schedule.count(before: start + 2_000_000_000) == UInt64(2 * perSecond))
        #expect(schedule.dueTime(of: UInt64(perSecond) * 10) == start + 10_000_000_000)
    }

    @Test("patching a request in place rewrites every id and nothing else; a reply names its slot and sequence")
    func patching() throws {
        let request = BenchRequest(serviceId: "host.0123456789abcdef0123456789abcdef",
                                   replyTo: "zstack.message.cloudbus.fedcba9876543210fedcba9876543210",
                                   payloadBytes: 200, runTag: 0x1a2b, sameKey: false, createdTime: 1_700_000_000_000)
        #expect(request.idOffsets.count == 3)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: request.size, alignment: 8)
        defer { buffer.deallocate() }
        request.template.withUnsafeBytes { buffer.copyMemory(from: $0) }
        var seenIds: Set<String> = []
        for (slot, sequence) in [(0, UInt64(1)), (99, 2), (7, 0xFFFF_FFFF_FFFF), (99, 3)] {
            request.patch(buffer, slot: slot, sequence: sequence)
            let bytes = Array(buffer)
            #expect(bytes == request.body(slot: slot, sequence: sequence))
            // Only the 32-hex ids differ from the template.
            let idBytes = Set(request.idOffsets.flatMap { $0..<($0 + 32) })
            for index in bytes.indices where !idBytes.contains(index) { #expect(bytes[index] == request.template[index]) }
            let text = String(decoding: bytes, as: UTF8.self)
            let id = try #require(NullResponder.scanStringValue(of: "id", in: bytes))
            #expect(id.count == 32)
            #expect(NullResponder.scanStringValue(of: "correlationId", in: bytes) == id)
            #expect(try #require(NullResponder.scanStringValue(of: "payload", in: bytes)).hasPrefix(id + "-"))
            #expect(text.utf8.count == request.size)
            seenIds.insert(id)
            // The reply the guarantee-matched null sends back is matched to the same slot and sequence.
            let reply = try #require(NullResponder.reply(to: bytes, echoPayload: true))
            let facts = try #require(BenchRequest.facts(ofReply: reply))
            #expect(facts.runTag == 0x1a2b && facts.slot == slot && facts.sequence == sequence && facts.success)
        }
        #expect(seenIds.count == 4)
        let sameKey = BenchRequest(serviceId: "s", replyTo: "r", payloadBytes: 200, runTag: 1, sameKey: true, createdTime: 0)
        #expect(sameKey.idOffsets.count == 2)
    }

    @Test("the guarantee-matched null's reply is as long as the worker's EchoReply (501 bytes, captured)")
    func echoReplySize() throws {
        // The request and reply captured from `cloudbus-worker run` (a 200-byte payload, this replyTo).
        let id = "0001000000000000000000000000003b"
        let inbox = "zstack.message.cloudbus.capture2"
        let request = Array(#"{"cloudbus.worker.EchoMsg":{"payload":"\#(id)-\#(String(repeating: "x", count: 167))","id":"\#(id)","serviceId":"host.0123456789abcdef0123456789abcdee","createdTime":1796471079583,"timeout":300000,"headers":{"correlationId":"\#(id)","replyTo":"\#(inbox)","noReply":"false","schema":{}}}}"#.utf8)
        #expect(request.count == 517)
        let reply = try #require(NullResponder.reply(to: request, echoPayload: true))
        #expect(reply.count == 501)
        #expect(NullResponder.scanStringValue(of: "payload", in: reply)?.count == 200)
        #expect(String(decoding: reply, as: UTF8.self).hasPrefix(#"{"cloudbus.worker.EchoReply":{"payload":""#))
        let minimal = try #require(NullResponder.reply(to: request, echoPayload: false))
        #expect(minimal.count == 151)
    }
}

@Suite("Echo load client on the real broker", .enabled(if: TestBroker.available), .serialized)
struct EchoLoadClientBrokerTests {
    /// `cloudbus-bench`, built beside the test bundle by `swift build --build-tests`.
    private static var benchBinary: String? {
        if let path = ProcessInfo.processInfo.environment["CLOUDBUS_BENCH_BINARY"] { return path }
        let beside = URL(fileURLWithPath: BenchProcStat.ownExecutable).deletingLastPathComponent()
            .appendingPathComponent("cloudbus-bench").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : nil
    }

    @Test("closed-loop and fixed-rate runs against the null-confirm child count and match every reply")
    func againstNullChild() async throws {
        let amqp = try TestBroker.configuration()
        let binary = try #require(Self.benchBinary, "cloudbus-bench not found beside the tests; build it or set CLOUDBUS_BENCH_BINARY")
        try EchoLoadClient.declareBusExchanges(amqp: amqp)
        let scratch = try BenchSetup.makeScratchDirectory("test")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var setup = BenchSetup(amqp: amqp, scratchDirectory: scratch, prefetch: 64, python: "python3", pikaScript: "")
        setup.benchExecutable = binary
        let responder = BenchNullResponder(setup: setup, reliable: false, guaranteeMatched: true)
        try await responder.start()
        do {
            _ = try await BenchReadiness.waitUntilAnswering(responder, amqp: amqp, within: .seconds(20))
            let probes = BenchCPUProbes(responder: { responder.cpuTime() }, responderInProcess: false, broker: nil)

            let closed = try await EchoLoadClient.run(
                queue: responder.queue, serviceId: responder.serviceId, amqp: amqp,
                plan: EchoLoadPlan(shape: .closed(window: 10), warmup: .milliseconds(200), duration: .seconds(1),
                                   reliable: false, payloadBytes: 200, sameKey: false, maxSamples: 100_000),
                runTag: 0x0101, probes: probes)
            #expect(!closed.stalled)
            #expect(closed.completed > 50)
            #expect(closed.latency.samples == closed.completed)
            #expect(closed.unmatchedReplies == 0 && closed.errorReplies == 0 && closed.unanswered == 0)
            #expect((closed.clientCPU ?? .zero) > .zero)
            #expect(closed.responderCPU != nil)

            let fixed = try await EchoLoadClient.run(
                queue: responder.queue, serviceId: responder.serviceId, amqp: amqp,
                plan: EchoLoadPlan(shape: .fixedRate(perSecond: 200, maxInFlight: 50), warmup: .milliseconds(200),
                                   duration: .seconds(1), reliable: true, payloadBytes: 200, sameKey: false,
                                   maxSamples: 100_000),
                runTag: 0x0102, probes: probes)
            #expect(!fixed.stalled)
            #expect(fixed.offeredPerSecond == 200)
            // 200 requests are due in the measured second; each is one latency sample, and each was answered. (How
            // many of the replies land inside that second is a timing — it failed under a loaded parallel run with
            // 132 — so it is not asserted; `completed` only has to have counted some.)
            #expect(fixed.latency.samples == 200)
            #expect(fixed.completed > 0)
            #expect(fixed.unsent == 0 && fixed.unanswered == 0 && fixed.unmatchedReplies == 0)
            #expect(fixed.publishFailures == 0 && fixed.errorReplies == 0)
        } catch {
            _ = await responder.stop()
            try? RabbitSession.deleteQueues(responder.leftoverQueues, configuration: amqp)
            throw error
        }
        // Its own process: CPU and peak RSS come from /proc/<pid>.
        #expect((responder.peakRSS() ?? 0) > 0)
        #expect((responder.cpuTime() ?? .zero) > .zero)
        #expect(await responder.stop() == nil)
        try RabbitSession.deleteQueues(responder.leftoverQueues, configuration: amqp)
    }
}
