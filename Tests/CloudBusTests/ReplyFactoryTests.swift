import CloudBus
import Foundation
import KVMMessages
import Primitives
import Testing

@Suite("Replies")
struct ReplyFactoryTests {
    private static let inbox = "zstack.message.cloudbus.\(WireExamples.nodeA)"

    private static func request(replyTo: String? = inbox, noReply: String? = "false", timeout: Int64 = 1_800_000)
        -> MessageBase
    {
        MessageBase(
            id: WireExamples.requestId, serviceId: "host.\(WireExamples.nodeB)", createdTime: 1_740_739_617_000,
            timeout: timeout, messageDeadline: 1_740_741_417_000,
            headers: MessageHeaders(
                correlationId: WireExamples.requestId, replyTo: replyTo, noReply: noReply, schema: [:],
                taskContext: RawJSON(validated: Data(#"{"api":"x"}"#.utf8))))
    }

    @Test func successReplyIsAddressedToTheRequestersInbox() throws {
        let reply = try #require(
            ReplyFactory.reply(
                PingHostReply(connected: true, currentHostStatus: .connected), to: Self.request(), now: 1234))
        #expect(reply.base.serviceId == Self.inbox)
        #expect(reply.base.headers.isReply == "true")
        #expect(reply.base.headers.isReplyMessage)
        #expect(reply.base.headers.correlationId == WireExamples.requestId)
        #expect(reply.base.headers.replyTo == nil)
        #expect(reply.base.headers.noReply == nil)
        #expect(reply.base.headers.schema == [:])
        #expect(reply.base.headers.taskContext == .emptyObject)
        #expect(reply.base.createdTime == 1234)
        #expect(reply.base.id != WireExamples.requestId)
        #expect(ZStackUUID.isWellFormed(reply.base.id))
        #expect(reply.base.timeout == MessageBase.noTimeout)
    }

    @Test func successIsWrittenExplicitlyEvenWhenTrue() throws {
        let reply = try #require(ReplyFactory.reply(ProbeReply(payload: "p"), to: Self.request()))
        let inner = try #require(JSONValue(parsing: reply.encoded())[ProbeReply.className])
        #expect(inner["success"] == true)
        #expect(inner["canceled"] == false)
        #expect(inner["error"] == nil)
        #expect(inner["headers"]?["isReply"] == "true")
        #expect(inner["headers"]?["schema"] == [:])
        #expect(inner["timeout"] == nil, "replies carry no request-only fields")
    }

    /// ZStack's failed ping is `success=true, connected=false` with an error: the reply says what the handler set.
    @Test func successIsWrittenAsSetAndErrorCodeListIsNamedInTheSchema() throws {
        var reply = PingHostReply(connected: false, currentHostStatus: .disconnected)
        reply.error = SysError.operationError.error("agent down", cause: SysError.internalError.error("boom"))
        #expect(reply.success, "precondition: the struct says success")
        let envelope = try #require(ReplyFactory.reply(reply, to: Self.request()))
        #expect(envelope.message.success)
        #expect(
            envelope.base.headers.schema == [
                "error": "org.zstack.header.errorcode.ErrorCodeList",
                "error.cause": "org.zstack.header.errorcode.ErrorCodeList",
            ])
        let inner = try #require(JSONValue(parsing: envelope.encoded())[PingHostReply.className])
        #expect(inner["success"] == true)
        #expect(inner["error"]?["code"] == "SYS.1006")
        // A generic error reply is a failure.
        let failure = try #require(ReplyFactory.errorReply(SysError.timeout.error("late"), to: Self.request()))
        #expect(try #require(JSONValue(parsing: failure.encoded())[MessageReply.className])["success"] == false)
        #expect(inner["error"]?["cause"]?["details"] == "boom")
    }

    @Test("a reply held as any BusReply: the same base and the same bytes as its typed envelope")
    func existentialReplyEncodesAsItsEnvelope() throws {
        var reply = PingHostReply(connected: false, currentHostStatus: .disconnected)
        reply.error = SysError.operationError.error("agent down", cause: SysError.internalError.error("boom"))
        let held: any BusReply = reply
        let envelope = try #require(ReplyFactory.reply(reply, to: Self.request(), now: 1_700_000_000_000, id: "1"))
        let base = try #require(ReplyFactory.replyBase(held, to: Self.request(), now: 1_700_000_000_000, id: "1"))
        #expect(base == envelope.base)
        // As JSON values: the schema map's members come in each dictionary's own order.
        #expect(try JSONValue(parsing: Data(held.envelopeBytes(base: base))) == JSONValue(parsing: envelope.encoded()))
        // Decoded back through the type's own witness, as the codec finds it by class name.
        let decoded = try EnvelopeCodec.decode(envelope.encodedBytes(),
                                               registry: MessageRegistry([PingHostReply.self]))
        #expect(decoded.base == envelope.base)
        #expect((decoded.message as? PingHostReply)?.error?.code == "SYS.1006")
    }

    @Test func genericErrorReplyRoundTripsAsMessageReply() throws {
        let envelope = try #require(
            ReplyFactory.errorReply(SysError.unknownMessage.error("nobody"), to: Self.request(), now: 9, id: "0a1b2c3d4e5f4a6b8c7d8e9f0a1b2c3d"))
        let decoded = try EnvelopeCodec.decode(envelope.encoded(), registry: WireExamples.registry)
        let back = try #require(decoded.typed(as: MessageReply.self))
        #expect(back == envelope)
        #expect(back.message.error?.code == "SYS.1008")
        #expect(back.message.error?.description == "Unknown message, no service can deal with the message")
        #expect(back.className == "org.zstack.header.message.MessageReply")
    }

    @Test func noReplyToMeansNoReply() {
        #expect(ReplyFactory.reply(ProbeReply(payload: nil), to: Self.request(replyTo: nil)) == nil)
        #expect(ReplyFactory.errorReply(SysError.internalError.error("x"), to: Self.request(replyTo: nil)) == nil)
    }

    @Test(arguments: [
        (inbox, "false", true),
        (inbox, nil, true),
        (inbox, "true", false),
        (inbox, "TRUE", false),
        (inbox, "yes", true),
        (nil, "false", false),
        (nil, nil, false),
    ] as [(String?, String?, Bool)])
    func needsReply(replyTo: String?, noReply: String?, expected: Bool) {
        #expect(ReplyFactory.needsReply(Self.request(replyTo: replyTo, noReply: noReply)) == expected)
    }

    @Test func timeoutReplyWordsTheErrorAsZStackDoes() throws {
        let envelope = try #require(
            ReplyFactory.timeoutReply(to: Self.request(), className: PingHostMsg.className, now: 1))
        let error = try #require(envelope.message.error)
        #expect(error.code == "SYS.1001")
        #expect(error.description == "A message or a operation timeout")
        #expect(
            error.details
                == "Message[name: org.zstack.header.host.PingHostMsg, id: \(WireExamples.requestId)] timeout after 1800 seconds"
        )
        #expect(!envelope.message.success)
        #expect(envelope.base.headers.schema?["error"] == ErrorCode.javaClassName)
    }

    @Test func decodedReplyDefaultsFollowJava() throws {
        let text = #"{"org.zstack.header.host.PingHostReply":{"id":"0c5b2f0e3d7a4f4c9b1e2d3c4b5a6978","createdTime":1}}"#
        let reply = try #require(
            EnvelopeCodec.decode(WireExamples.data(text), registry: WireExamples.registry).typed(as: PingHostReply.self))
        #expect(reply.message.success, "Java's MessageReply.success starts true")
        #expect(!reply.message.connected)
        #expect(!reply.message.noReconnect)
        #expect(!reply.message.canceled)
        #expect(reply.message.currentHostStatus == nil)
    }
}
