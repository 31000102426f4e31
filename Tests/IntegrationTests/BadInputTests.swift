import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import KVMMessages
import Primitives
import Testing
import Worker

/// Every kind of bad input, published for real through the broker: each gets an error reply when
/// the sender waits for one, a dead-letter copy with the reason, an ack, and a counter — and the
/// worker keeps answering good messages.
@Suite("Bad input on the real broker", .enabled(if: TestBroker.available), .serialized)
struct BadInputTests {
    /// A request envelope with a known id and our inbox as replyTo, as raw bytes.
    private func rawRequest(_ harness: WorkerHarness, id: String, body: (String) -> String) -> Data {
        let headers = #"{"correlationId":"\#(id)","replyTo":"\#(harness.client.inbox)","noReply":"false","schema":{}}"#
        return Data(body(headers).utf8)
    }

    private func expectServing(_ harness: WorkerHarness) async throws {
        let reply = try await harness.call(EchoMsg.className, ["payload": .string("still-alive")])
        #expect(reply.success)
        #expect(reply.fields["payload"]?.stringValue == "still-alive")
    }

    @Test("malformed JSON: dead-lettered with the reason, acked, worker keeps serving")
    func malformedJSON() async throws {
        try await withWorker { harness in
            let probe = try await DeadLetterProbe.open()
            let marker = MessageID.random()
            try await harness.sendRaw(Data("{\"org.zstack.header.host.PingHostMsg\": {\"hostUuid\": \"\(marker)\"".utf8))
            let copy = try await probe.find { String(decoding: $0.body, as: UTF8.self).contains(marker) }
            let letter = try #require(copy)
            #expect(letter.header("x-cbw-reason") == "malformed-json")
            #expect(letter.header("x-cbw-queue") == harness.hostQueue)
            #expect(letter.header("x-cbw-detail")?.contains("not valid JSON") == true)
            // Counted once the copy is confirmed, which can come after the probe sees it.
            #expect(try await eventually { harness.metrics[WorkerCounter.deadLettered("malformed-json")] == 1 })
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("JSON that is not a one-key object: array, two keys, scalar", arguments: [
        "[1,2,3]", #"{"a":{},"b":{}}"#, "42", #"{"org.zstack.header.host.PingHostMsg":"not-an-object"}"#,
    ])
    func notSingleKeyObject(body: String) async throws {
        try await withWorker { harness in
            let probe = try await DeadLetterProbe.open()
            try await harness.sendRaw(Data(body.utf8))
            let queue = harness.hostQueue
            let letter = try #require(try await probe.find {
                $0.header("x-cbw-queue") == queue && String(decoding: $0.body, as: UTF8.self) == body
            })
            #expect(letter.header("x-cbw-reason") == "not-single-key-object")
            // Counted once the copy is confirmed, which can come after the probe sees it.
            #expect(try await eventually {
                harness.metrics[WorkerCounter.deadLettered("not-single-key-object")] == 1
            })
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("unknown class: SYS.1008 reply to the sender, dead-letter copy")
    func unknownClass() async throws {
        try await withWorker { harness in
            let probe = try await DeadLetterProbe.open()
            let reply = try await harness.call("org.zstack.header.vm.NoSuchMsg", ["vmInstanceUuid": .string(MessageID.random())])
            #expect(!reply.success)
            #expect(reply.errorCode == "SYS.1008")
            #expect(reply.className == MessageReply.className)
            #expect(reply.fields["headers"]?["isReply"]?.stringValue == "true")
            let id = try #require(reply.correlationId)
            let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
            #expect(letter.header("x-cbw-reason") == "unknown-class")
            #expect(letter.header("x-cbw-class") == "org.zstack.header.vm.NoSuchMsg")
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("missing required field: SYS.1007 naming the field")
    func missingField() async throws {
        try await withWorker { harness in
            let probe = try await DeadLetterProbe.open()
            let reply = try await harness.call(PingHostMsg.className, [:])
            #expect(!reply.success)
            #expect(reply.errorCode == "SYS.1007")
            #expect(reply.fields["error"]?["details"]?.stringValue?.contains("hostUuid") == true)
            let id = try #require(reply.correlationId)
            let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
            #expect(letter.header("x-cbw-reason") == "missing-field")
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("mistyped field: SYS.1007 naming the field and the expected type")
    func mistypedField() async throws {
        try await withWorker { harness in
            let probe = try await DeadLetterProbe.open()
            let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .integer(42)])
            #expect(!reply.success)
            #expect(reply.errorCode == "SYS.1007")
            #expect(reply.fields["error"]?["details"]?.stringValue?.contains("hostUuid") == true)
            let id = try #require(reply.correlationId)
            let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
            #expect(letter.header("x-cbw-reason") == "mistyped-field")
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("body over the configured limit: refused from its content header, never assembled, a 4 KiB copy dead-lettered")
    func oversizeBody() async throws {
        try await withWorker(maxBodyBytes: 16 * 1024) { harness in
            let probe = try await DeadLetterProbe.open()
            let marker = MessageID.random()
            // 2 MiB: many body frames (128 KiB each), of which the worker keeps only the first 4 KiB.
            let payload = String(repeating: "x", count: 2 << 20)
            let body = Data(#"{"cloudbus.worker.EchoMsg":{"payload":"\#(marker)\#(payload)"}}"#.utf8)
            try await harness.sendRaw(body)
            let letter = try #require(try await probe.find { String(decoding: $0.body.prefix(200), as: UTF8.self).contains(marker) })
            #expect(letter.header("x-cbw-reason") == "body-too-large")
            #expect(letter.body.count == 4096, "the copy is the first 4 KiB, not the whole body")
            #expect(letter.body == Array(body.prefix(4096)))
            #expect(letter.properties.headers["x-cbw-announced-size"] == .int64(Int64(body.count)))
            #expect(letter.header("x-cbw-detail")?.contains("\(body.count)") == true)
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("a body of exactly the limit is read whole and handled; one byte more is refused from its header")
    func bodyAtTheLimit() async throws {
        let limit = 16 * 1024
        try await withWorker(maxBodyBytes: limit) { harness in
            // One-way (noReply): the body goes out byte for byte as built here (an RPC call would rewrite it).
            func request(size: Int) -> (id: String, body: Data) {
                let id = MessageID.random()
                func body(_ padding: String) -> Data {
                    // The id first: a refused copy keeps only the first 4 KiB.
                    Data(#"{"cloudbus.worker.EchoMsg":{"id":"\#(id)","headers":{"noReply":"true"},"payload":"\#(padding)"}}"#.utf8)
                }
                return (id, body(String(repeating: "p", count: size - body("").count)))
            }
            let exact = request(size: limit)
            #expect(exact.body.count == limit)
            try await harness.sendRaw(exact.body)
            #expect(try await eventually { harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 1 },
                    "a body of exactly the limit is read whole, decoded and handled")
            let over = request(size: limit + 1)
            #expect(over.body.count == limit + 1)
            let probe = try await DeadLetterProbe.open()
            try await harness.sendRaw(over.body)
            let letter = try #require(try await probe.find { String(decoding: $0.body, as: UTF8.self).contains(over.id) })
            #expect(letter.header("x-cbw-reason") == "body-too-large")
            #expect(letter.properties.headers["x-cbw-announced-size"] == .int64(Int64(limit + 1)))
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 1)
            await probe.close()
        }
    }

    @Test("hostile unknown headers (1 MiB array, 480-deep nesting): known class answered, unknown refused, good one served")
    func hostileHeaders() async throws {
        let array = "[" + (0..<320_000).map { String(10 + $0 % 90) }.joined(separator: ",") + "]"
        let nesting = String(repeating: #"{"n":["#, count: 240) + "0" + String(repeating: "]}", count: 240)
        try await withWorker(maxBodyBytes: 2 << 20) { harness in
            for header in [array, nesting] {
                for known in [true, false] {
                    let id = MessageID.random()
                    let className = known ? EchoMsg.className : "org.example.UnknownMsg"
                    let body = rawRequest(harness, id: id) { headers in
                        let hostile = headers.dropLast() + #","x-hostile":\#(header)}"#
                        return #"{"\#(className)":{"payload":"hostile","id":"\#(id)","headers":\#(hostile)}}"#
                    }
                    async let hostileReply = harness.client.call(envelope: body, to: .queue(harness.hostQueue),
                                                                 timeout: .seconds(30))
                    try await expectServing(harness)
                    let reply = try await hostileReply
                    if known {
                        #expect(reply.success)
                        #expect(reply.fields["payload"]?.stringValue == "hostile")
                    } else {
                        #expect(reply.errorCode == "SYS.1008")
                    }
                }
            }
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 6)
        }
    }

    @Test("a request that needs a reply but has no replyTo: not executed, dead-lettered")
    func missingReplyTo() async throws {
        try await withWorker { harness in
            let probe = try await DeadLetterProbe.open()
            let id = MessageID.random()
            try await harness.sendRaw(Data(#"{"cloudbus.worker.EchoMsg":{"payload":"p","id":"\#(id)","headers":{"noReply":"false"}}}"#.utf8))
            let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
            #expect(letter.header("x-cbw-reason") == "missing-reply-to")
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 0)
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("noReply=\"true\": executed, no reply sent")
    func noReplyHonoured() async throws {
        try await withWorker { harness in
            let id = MessageID.random()
            let body = rawRequest(harness, id: id) { _ in
                #"{"cloudbus.worker.EchoMsg":{"payload":"quiet","id":"\#(id)","headers":{"correlationId":"\#(id)","replyTo":"\#(harness.client.inbox)","noReply":"true"}}}"#
            }
            try await harness.sendRaw(body)
            #expect(try await eventually { harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 1 })
            try await expectServing(harness)
            // Only the liveness echo is answered (the counter moves once its confirm is back, just after the reply).
            #expect(try await eventually { harness.metrics[WorkerCounter.replies] == 1 })
            #expect(try await eventually { harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 2 })
            #expect(harness.client.lateReplyCount == 0)
        }
    }

    @Test("expired deadline: answered SYS.1001, not executed")
    func expiredDeadline() async throws {
        try await withWorker { harness in
            let probe = try await DeadLetterProbe.open()
            let past = EpochMillis.now() - 60_000
            let reply = try await harness.call(EchoMsg.className, [
                "payload": .string("late"), "timeout": .integer(1000), "messageDeadline": .integer(past),
            ])
            #expect(!reply.success)
            #expect(reply.errorCode == "SYS.1001")
            #expect(reply.fields["error"]?["details"]?.stringValue?.contains("timeout after") == true)
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 0)
            let id = try #require(reply.correlationId)
            let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
            #expect(letter.header("x-cbw-reason") == "expired")
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("a sender's retry of an answered message gets the very same reply again, and is not executed twice")
    func duplicateGetsTheSameReply() async throws {
        try await withWorker { harness in
            let id = MessageID.random()
            let fields: [String: JSONValue] = ["payload": .string("once"), "id": .string(id)]
            let first = try await harness.call(EchoMsg.className, fields)
            #expect(first.success)
            // The sender lost the reply and retries with the same id: same bytes back, handler not run again.
            let second = try await harness.call(EchoMsg.className, fields)
            #expect(second.raw == first.raw, "the cached reply, byte for byte")
            #expect(try await eventually { harness.metrics[WorkerCounter.duplicates] == 1 })
            #expect(try await eventually { harness.metrics[WorkerCounter.repliesResent] == 1 })
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 1)
        }
    }

    @Test("with no reply bytes kept in memory, a retry gets the very same reply read back from the store")
    func duplicateGetsTheStoredReply() async throws {
        try await withWorker(configure: { $0.replyCacheBytes = 0 }) { harness in
            let id = MessageID.random()
            let fields: [String: JSONValue] = ["payload": .string("stored"), "id": .string(id)]
            let first = try await harness.call(EchoMsg.className, fields)
            #expect(first.success)
            // Once its answer is committed (a reader of the worker's own file sees it), only the store has the bytes.
            let store = try SQLiteInventory(path: WorkerRuntime.inventoryPath(dataDirectory: harness.dataDirectory))
            #expect(try await eventuallyAsync { try await store.answeredMessage(id: id) != nil })
            let second = try await harness.call(EchoMsg.className, fields)
            #expect(second.raw == first.raw, "the stored reply, byte for byte")
            #expect(try await eventually { harness.metrics[WorkerCounter.repliesResent] == 1 })
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 1)
        }
    }

    @Test("a refusal is an answer too: a retry of a refused request gets the same error reply")
    func duplicateOfARefusalGetsTheSameError() async throws {
        try await withWorker { harness in
            let id = MessageID.random()
            let past = EpochMillis.now() - 60_000
            let fields: [String: JSONValue] = [
                "payload": .string("late"), "id": .string(id), "timeout": .integer(1000),
                "messageDeadline": .integer(past),
            ]
            let first = try await harness.call(EchoMsg.className, fields)
            #expect(first.errorCode == "SYS.1001")
            let second = try await harness.call(EchoMsg.className, fields)
            #expect(second.raw == first.raw)
            #expect(harness.metrics[WorkerCounter.deadLettered("expired")] == 1, "one dead-letter copy, not two")
        }
    }

    @Test(
        "an id that is not 32 lowercase hex digits: SYS.1007, dead-lettered, never kept",
        arguments: ["not-a-zstack-id", "F366AD3EFF954F0FBF9E572AC462FF7B", String(repeating: "a", count: 200_000)])
    func malformedMessageId(id: String) async throws {
        try await withWorker(maxBodyBytes: 1 << 20) { harness in
            let probe = try await DeadLetterProbe.open()
            let marker = MessageID.random()
            let body = rawRequest(harness, id: id) { headers in
                #"{"cloudbus.worker.EchoMsg":{"payload":"\#(marker)","id":"\#(id)","headers":\#(headers)}}"#
            }
            let reply = try await harness.client.call(envelope: body, to: .queue(harness.hostQueue), timeout: .seconds(10))
            #expect(!reply.success)
            #expect(reply.errorCode == "SYS.1007")
            #expect(reply.fields["error"]?["details"]?.stringValue?.contains("32 lowercase hex digits") == true)
            let letter = try #require(try await probe.find {
                String(decoding: $0.body, as: UTF8.self).contains(marker)
            })
            #expect(letter.header("x-cbw-reason") == "invalid-message-id")
            #expect((letter.header("x-cbw-message-id")?.count ?? 0) <= 128, "a hostile id is cut in the headers")
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 0)
            try await expectServing(harness)
            await probe.close()
        }
    }

    @Test("an output no queue takes is dead-lettered with the reason, and the request is still answered")
    func unroutableOutputIsDeadLettered() async throws {
        let nowhere = ServiceID(service: "nowhere", node: NodeUUID.random()).rawValue
        try await withWorker(extraHandlers: { $0.register(SendOnHandler(target: nowhere)) }) { harness in
            let probe = try await DeadLetterProbe.open()
            let marker = MessageID.random()
            let reply = try await harness.call(SendOnMsg.className, ["marker": .string(marker)])
            #expect(reply.success)
            let letter = try #require(try await probe.find {
                String(decoding: $0.body, as: UTF8.self).contains(marker)
            })
            #expect(letter.header("x-cbw-reason") == "unroutable-output")
            #expect(letter.header("x-cbw-target") == "service \(nowhere)")
            #expect(letter.header("x-cbw-caused-by") == reply.correlationId)
            #expect(harness.metrics[WorkerCounter.unroutableOutputs] == 1)
            await probe.close()
        }
    }
}
