import CloudBus
import Foundation
import KVMMessages
import Primitives
import Testing

@Suite("Envelope errors")
struct EnvelopeErrorTests {
    private func decodeError(_ text: String, maxBodyBytes: Int = EnvelopeCodec.defaultMaxBodyBytes) -> EnvelopeError? {
        decodeError(Data(text.utf8), maxBodyBytes: maxBodyBytes)
    }

    private func decodeError(_ data: Data, maxBodyBytes: Int = EnvelopeCodec.defaultMaxBodyBytes) -> EnvelopeError? {
        do {
            _ = try EnvelopeCodec.decode(data, registry: WireExamples.registry, maxBodyBytes: maxBodyBytes)
            return nil
        } catch {
            return error
        }
    }

    private static let replyTo = "zstack.message.cloudbus.\(WireExamples.nodeA)"
    private static let requestBase = """
        "timeout":30000,"messageDeadline":1740741417000,\
        "headers":{"correlationId":"f366ad3eff954f0fbf9e572ac462ff7b","replyTo":"\(replyTo)","noReply":"false"},\
        "id":"f366ad3eff954f0fbf9e572ac462ff7b","serviceId":"host.\(WireExamples.nodeB)","createdTime":1740739617000
        """

    @Test func tooLargeBodyIsRefusedBeforeParsing() throws {
        let body = WireExamples.data(WireExamples.pingHostMsg)
        let error = try #require(decodeError(body, maxBodyBytes: 64))
        #expect(error == .bodyTooLarge(size: body.count, limit: 64))
        #expect(error.recoveredBase == nil)
        #expect(error.kind == "body-too-large")
        #expect(error.reason.contains("\(body.count) bytes exceeds the limit of 64"))
        #expect(throws: EnvelopeError.bodyTooLarge(size: 300, limit: 10)) {
            try EnvelopeCodec.decode([UInt8](repeating: 0x20, count: 300), registry: WireExamples.registry, maxBodyBytes: 10)
        }
    }

    @Test(arguments: [#"{"a":"#, "", "not json", #"{"a":1}}"#, #"{'a':1}"#])
    func malformedJSON(text: String) throws {
        let error = try #require(decodeError(text))
        guard case .malformedJSON(let detail) = error else {
            Issue.record("expected malformedJSON, got \(error)")
            return
        }
        #expect(!detail.isEmpty)
        #expect(error.recoveredBase == nil)
        #expect(error.reason.hasPrefix("message body is not valid JSON"))
    }

    @Test func invalidUTF8IsMalformed() throws {
        let error = try #require(decodeError(Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])))
        #expect(error.kind == "malformed-json")
    }

    @Test(arguments: [
        ("[1,2]", "an array"),
        ("42", "a number"),
        (#""org.zstack.header.host.PingHostMsg""#, "a string"),
        ("null", "null"),
        ("{}", "0 members"),
        (#"{"org.zstack.header.host.PingHostMsg":{"hostUuid":"x"},"other":{}}"#, "2 members"),
        (#"{"org.zstack.header.host.PingHostMsg":5}"#, "a number, not an object"),
        (#"{"org.zstack.header.host.PingHostMsg":[{"hostUuid":"x"}]}"#, "an array, not an object"),
    ])
    func notASingleKeyObject(text: String, expectedDetail: String) throws {
        let error = try #require(decodeError(text))
        guard case .notSingleKeyObject(let detail) = error else {
            Issue.record("expected notSingleKeyObject, got \(error)")
            return
        }
        #expect(detail.contains(expectedDetail), "detail: \(detail)")
        #expect(error.kind == "not-single-key-object")
    }

    @Test func unknownClassRecoversTheBaseForAnErrorReply() throws {
        let text = #"{"org.zstack.header.vm.StartVmInstanceMsg":{"vmInstanceUuid":"v",\#(Self.requestBase)}}"#
        let error = try #require(decodeError(text))
        guard case .unknownClass(let name, let base) = error else {
            Issue.record("expected unknownClass, got \(error)")
            return
        }
        #expect(name == "org.zstack.header.vm.StartVmInstanceMsg")
        let recovered = try #require(base)
        #expect(recovered.id == WireExamples.requestId)
        #expect(recovered.headers.replyTo == Self.replyTo)
        #expect(recovered.headers.correlationId == WireExamples.requestId)
        #expect(recovered.headers.noReply == "false")
        #expect(recovered.timeout == 30000)
        #expect(recovered.messageDeadline == 1_740_741_417_000)
        #expect(error.className == name)
        #expect(error.reason.hasPrefix("No service deals with message: org.zstack.header.vm.StartVmInstanceMsg"))
        #expect(error.replyError.code == "SYS.1008")
        #expect(error.replyError.details == error.reason)

        let reply = try #require(ReplyFactory.errorReply(error.replyError, to: recovered, now: 5))
        #expect(reply.base.serviceId == Self.replyTo)
        #expect(reply.base.headers.correlationId == WireExamples.requestId)
        #expect(!reply.message.success)
    }

    @Test func missingRequiredFieldNamesThePathAndRecoversTheBase() throws {
        let error = try #require(decodeError(#"{"org.zstack.header.host.PingHostMsg":{\#(Self.requestBase)}}"#))
        #expect(
            error == .missingField(path: "hostUuid", className: PingHostMsg.className, base: error.recoveredBase))
        #expect(error.recoveredBase?.headers.replyTo == Self.replyTo)
        #expect(error.recoveredBase?.id == WireExamples.requestId)
        #expect(error.reason.contains("missing required field 'hostUuid'"))
        #expect(error.reason.contains(WireExamples.requestId))
        #expect(error.replyError.code == "SYS.1007")
    }

    @Test func nullRequiredFieldCountsAsMissing() throws {
        let error = try #require(
            decodeError(#"{"org.zstack.header.host.PingHostMsg":{"hostUuid":null,\#(Self.requestBase)}}"#))
        guard case .missingField(let path, _, let base) = error else {
            Issue.record("expected missingField, got \(error)")
            return
        }
        #expect(path == "hostUuid")
        #expect(base != nil)
    }

    @Test func nestedMissingFieldHasADottedPath() throws {
        let text = #"{"org.zstack.header.message.MessageReply":{"error":{"details":"x"},"id":"f366ad3eff954f0fbf9e572ac462ff7b","createdTime":1}}"#
        let error = try #require(decodeError(text))
        guard case .missingField(let path, let className, _) = error else {
            Issue.record("expected missingField, got \(error)")
            return
        }
        #expect(path == "error.code")
        #expect(className == MessageReply.className)
    }

    private static let validPingFields: [String: JSONValue] = [
        "hostUuid": "7dd11952b3c94fd5bbe94a140d7fbac6", "timeout": 30000, "messageDeadline": 1_740_741_417_000,
        "headers": ["correlationId": "f366ad3eff954f0fbf9e572ac462ff7b", "replyTo": .string(replyTo), "noReply": "false"],
        "id": "f366ad3eff954f0fbf9e572ac462ff7b", "serviceId": "host.9b1d387e11bd3ab0a673c655eb4c8f66",
        "createdTime": 1_740_739_617_000,
    ]

    @Test(arguments: [
        ("hostUuid", JSONValue.integer(42), "string"),
        ("hostUuid", ["nested": "object"], "string"),
        ("createdTime", "yesterday", "integer"),
        ("timeout", 1.5, "an integer (found 1.5)"),
        ("messageDeadline", 1e30, "an integer"),
        ("systemTags", "a", "array"),
        ("systemTags", [1], "string"),
    ] as [(String, JSONValue, String)])
    func mistypedFieldNamesPathAndExpectedType(field: String, value: JSONValue, expected: String) throws {
        var fields = Self.validPingFields
        fields[field] = value
        let body = try JSONValue.object([PingHostMsg.className: .object(fields)]).jsonData()
        let error = try #require(decodeError(body))
        guard case .mistypedField(let path, let foundExpected, let className, let recovered) = error else {
            Issue.record("expected mistypedField, got \(error)")
            return
        }
        #expect(path == (field == "systemTags" && value == [1] ? "systemTags[0]" : field))
        #expect(foundExpected.contains(expected), "expected-type text: \(foundExpected)")
        #expect(className == PingHostMsg.className)
        #expect(recovered?.headers.replyTo == Self.replyTo)
        #expect(recovered?.id == WireExamples.requestId)
        #expect(error.kind == "mistyped-field")
        #expect(error.replyError.code == "SYS.1007")
        #expect(error.reason.contains("invalid field '\(path)'"))
    }

    @Test func mistypedHeaderIsReportedWithItsPathAndTheRestOfTheBaseSurvives() throws {
        let text = """
            {"org.zstack.header.host.PingHostMsg":{"hostUuid":"h",\
            "headers":{"replyTo":7,"correlationId":"f366ad3eff954f0fbf9e572ac462ff7b"},\
            "id":"f366ad3eff954f0fbf9e572ac462ff7b","createdTime":1}}
            """
        let error = try #require(decodeError(text))
        guard case .mistypedField(let path, let expected, _, let base) = error else {
            Issue.record("expected mistypedField, got \(error)")
            return
        }
        #expect(path == "headers.replyTo")
        #expect(expected == "string")
        #expect(base?.headers.replyTo == nil)
        #expect(base?.headers.correlationId == WireExamples.requestId)
        #expect(base?.id == WireExamples.requestId)
    }

    @Test func mistypedReplyBoolean() throws {
        let text = #"{"org.zstack.header.host.PingHostReply":{"connected":"yes","id":"f366ad3eff954f0fbf9e572ac462ff7b","createdTime":1}}"#
        let error = try #require(decodeError(text))
        #expect(
            error
                == .mistypedField(
                    path: "connected", expected: "boolean", className: PingHostReply.className,
                    base: error.recoveredBase))
    }
}
