import CloudBus
import Foundation
import KVMMessages
import Primitives
import Testing

@Suite("Envelope codec")
struct EnvelopeCodecTests {
    @Test func decodesAJavaPingHostMsgWithAllBaseFields() throws {
        let decoded = try EnvelopeCodec.decode(WireExamples.data(WireExamples.pingHostMsg), registry: WireExamples.registry)
        #expect(decoded.className == "org.zstack.header.host.PingHostMsg")
        let envelope = try #require(decoded.typed(as: PingHostMsg.self))
        #expect(envelope.message.hostUuid == WireExamples.hostUuid)
        let base = envelope.base
        #expect(base.id == WireExamples.requestId)
        #expect(base.serviceId == "host.\(WireExamples.nodeB)")
        #expect(base.createdTime == 1_740_739_617_000)
        #expect(base.timeout == 1_800_000)
        #expect(base.messageDeadline == 1_740_741_417_000)
        #expect(base.headers.correlationId == WireExamples.requestId)
        #expect(base.headers.replyTo == "zstack.message.cloudbus.\(WireExamples.nodeA)")
        #expect(base.headers.noReply == "false")
        #expect(!base.headers.isNoReply)
        #expect(base.headers.schema == [:])
        #expect(base.headers.taskContext == .emptyObject)
        #expect(base.headers.extra.isEmpty)
        #expect(decoded.typed(as: ProbeMsg.self) == nil)
    }

    @Test func decodesFromByteArrays() throws {
        let bytes = Array(WireExamples.pingHostMsg.utf8)
        let decoded = try EnvelopeCodec.decode(bytes, registry: WireExamples.registry)
        #expect(decoded.typed(as: PingHostMsg.self)?.message.hostUuid == WireExamples.hostUuid)
    }

    @Test func roundTripReproducesTheJavaBody() throws {
        for body in [WireExamples.pingHostMsg, WireExamples.pingHostReply, WireExamples.nodeUnavailableReply] {
            let decoded = try EnvelopeCodec.decode(WireExamples.data(body), registry: WireExamples.registry)
            let encoded = try Self.encode(decoded.message, base: decoded.base)
            #expect(try JSONValue(parsing: encoded) == JSONValue(parsing: WireExamples.data(body)))
        }
    }

    @Test func encodingIsCompactOmitsNullsAndDefaultsAndWritesFlagsAsStrings() throws {
        let base = MessageBase(
            id: "2f1e0d9c8b7a4f6e9d5c4b3a29180716", serviceId: "host.\(WireExamples.nodeB)", createdTime: 42,
            headers: MessageHeaders(replyTo: "a/b", noReply: "true"))
        let data = try EnvelopeCodec.encode(ProbeMsg(payload: nil), base: base)
        let text = String(decoding: data, as: UTF8.self)
        #expect(!text.contains("\n"))
        #expect(!text.contains(": "))
        #expect(!text.contains("\\/"))
        let inner = try #require(JSONValue(parsing: data)["cloudbus.test.ProbeMsg"]?.objectValue)
        #expect(Set(inner.keys) == ["headers", "id", "serviceId", "createdTime"])
        #expect(inner["headers"] == ["replyTo": "a/b", "noReply": "true"])
    }

    @Test func toleratesUnknownFieldsAndKeepsUnknownHeaders() throws {
        let body = """
            {"cloudbus.test.ProbeMsg":{"payload":"p","futureField":[1,{"x":2}],"systemTags":["a::b"],
             "headers":{"replyTo":"zstack.message.cloudbus.\(WireExamples.nodeA)","task-stack":["s1"],"trace":7},
             "id":"2f1e0d9c8b7a4f6e9d5c4b3a29180716","createdTime":1}}
            """
        let decoded = try EnvelopeCodec.decode(WireExamples.data(body), registry: WireExamples.registry)
        let envelope = try #require(decoded.typed(as: ProbeMsg.self))
        #expect(envelope.message.payload == "p")
        #expect(envelope.base.systemTags == ["a::b"])
        #expect(envelope.base.headers.extra == [
            "task-stack": RawJSON(validated: Data(#"["s1"]"#.utf8)), "trace": RawJSON(validated: Data("7".utf8)),
        ], "unknown headers are kept as their text, not decoded")
        #expect(envelope.base.timeout == MessageBase.noTimeout)
        #expect(envelope.base.messageDeadline == MessageBase.noTimeout)
        let reencoded = try JSONValue(parsing: envelope.encoded())
        #expect(reencoded["cloudbus.test.ProbeMsg"]?["headers"]?["task-stack"] == ["s1"])
        #expect(reencoded["cloudbus.test.ProbeMsg"]?["futureField"] == nil, "unknown message fields are not kept")
    }

    /// Headers a hostile sender fills: a 1 MiB array of 320k numbers and a 480-deep nesting, in unknown headers.
    static func hostileHeaders(replyTo: String) -> (text: String, array: String, nesting: String) {
        let array = "[" + (0..<320_000).map { String($0 % 10) }.joined(separator: ",") + "]"
        let nesting = String(repeating: #"{"n":["#, count: 240) + "0" + String(repeating: "]}", count: 240)
        let text = #"{"replyTo":"\#(replyTo)","noReply":"false","huge":\#(array),"task-context":{"__messagedeadline__":"1"},"deep":\#(nesting)}"#
        return (text, array, nesting)
    }

    @Test("hostile unknown headers: the message decodes, and they are kept as their exact text, never as a tree")
    func hostileUnknownHeadersStayRaw() throws {
        let hostile = Self.hostileHeaders(replyTo: "zstack.message.cloudbus.\(WireExamples.nodeA)")
        #expect(hostile.array.utf8.count > 600_000)
        let body = #"{"cloudbus.test.ProbeMsg":{"payload":"p","headers":\#(hostile.text),"id":"2f1e0d9c8b7a4f6e9d5c4b3a29180716"}}"#
        let decoded = try EnvelopeCodec.decode(WireExamples.data(body), registry: WireExamples.registry,
                                               maxBodyBytes: 4 << 20)
        let headers = decoded.base.headers
        #expect(headers.replyTo == "zstack.message.cloudbus.\(WireExamples.nodeA)")
        #expect(headers.extra["huge"]?.bytes == Data(hostile.array.utf8))
        #expect(headers.extra["deep"]?.bytes == Data(hostile.nesting.utf8))
        #expect(headers.taskContext?.bytes == Data(#"{"__messagedeadline__":"1"}"#.utf8))
        #expect(decoded.typed(as: ProbeMsg.self)?.message.payload == "p")
    }

    @Test("hostile unknown headers on an unknown class: refused SYS.1008, the reply address still recovered")
    func hostileHeadersOnTheRefusalPath() throws {
        let replyTo = "zstack.message.cloudbus.\(WireExamples.nodeA)"
        let hostile = Self.hostileHeaders(replyTo: replyTo)
        let body = #"{"org.example.NobodyKnowsMsg":{"headers":\#(hostile.text),"id":"2f1e0d9c8b7a4f6e9d5c4b3a29180716"}}"#
        do {
            _ = try EnvelopeCodec.decode(WireExamples.data(body), registry: WireExamples.registry, maxBodyBytes: 4 << 20)
            Issue.record("an unknown class decoded")
        } catch {
            guard case .unknownClass(let name, let base) = error else {
                Issue.record("expected unknownClass, got \(error)")
                return
            }
            #expect(name == "org.example.NobodyKnowsMsg")
            #expect(base?.headers.replyTo == replyTo)
            #expect(base?.id == "2f1e0d9c8b7a4f6e9d5c4b3a29180716")
            #expect(base?.headers.extra["huge"]?.bytes == Data(hostile.array.utf8))
        }
    }

    @Test func booleanNoReplyFromACarelessSenderIsNormalisedToAString() throws {
        let body = """
            {"cloudbus.test.ProbeMsg":{"headers":{"noReply":true,"isReply":false},"id":"2f1e0d9c8b7a4f6e9d5c4b3a29180716","createdTime":1}}
            """
        let base = try EnvelopeCodec.decode(WireExamples.data(body), registry: WireExamples.registry).base
        #expect(base.headers.noReply == "true")
        #expect(base.headers.isNoReply)
        #expect(base.headers.isReply == "false")
    }

    @Test func missingIdAndCreatedTimeAreRegeneratedAsJavaDoes() throws {
        let before = EpochMillis.now()
        let decoded = try EnvelopeCodec.decode(
            WireExamples.data(#"{"cloudbus.test.ProbeMsg":{}}"#), registry: WireExamples.registry)
        #expect(ZStackUUID.isWellFormed(decoded.base.id))
        #expect(decoded.base.createdTime >= before)
        #expect(decoded.base.headers == MessageHeaders())
    }

    @Test func registryResolvesEveryCatalogueClassAndRejectsOthers() {
        let registry = WireExamples.registry
        #expect(registry.type(named: PingHostMsg.className) == PingHostMsg.self)
        #expect(registry.type(named: "org.zstack.header.vm.StartVmInstanceMsg") == nil)
        #expect(registry.type(named: Probe.className) == nil)
        let extended = registry.adding([Probe.self])
        #expect(extended.type(named: Probe.className) == Probe.self)
        #expect(extended.classNames.count == registry.classNames.count + 1)
    }

    private struct Probe: BusMessage { static let className = "test.Probe" }

    private static func encode(_ message: some BusMessage, base: MessageBase) throws -> Data {
        try EnvelopeCodec.encode(message, base: base)
    }
}
