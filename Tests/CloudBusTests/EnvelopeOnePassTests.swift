@testable import CloudBus
import Foundation
import KVMMessages
import Primitives
import PropertyBased
import Testing

/// The one-pass codec (`JSONBytesDecoder`/`JSONBytesEncoder`) against Foundation's, on random envelopes: whenever
/// the one-pass decoder answers, `JSONDecoder` answers the same; whatever the one-pass encoder writes reads back as
/// what `JSONEncoder` writes. Bodies come from a seed (reported on failure), with escapes, unicode, unknown fields,
/// odd whitespace, wrong types, repeated keys and numbers written as fractions mixed in.
@Suite("Envelope codec: one pass vs Foundation")
struct EnvelopeOnePassTests {
    @Test func decodingAgreesWithFoundationOnRandomEnvelopes() async {
        let tally = Tally()
        await propertyCheck(count: 3000, input: Gen.uint64()) { seed in
            var random = SplitMix64(seed: seed)
            let body = Data(RandomEnvelope.body(&random).utf8)
            let foundation = Result { () throws(EnvelopeError) in
                try EnvelopeCodec.decodeWithFoundation(body, registry: WireExamples.registry)
            }
            guard let fast = EnvelopeCodec.decodeInOnePass(body, registry: WireExamples.registry) else {
                tally.add(foundationAccepted: (try? foundation.get()) != nil, fast: false)
                return
            }
            tally.add(foundationAccepted: true, fast: true)
            guard case .success(let expected) = foundation else {
                Issue.record("seed \(seed): one pass decoded what JSONDecoder refuses: \(String(decoding: body, as: UTF8.self))")
                return
            }
            #expect(fast.className == expected.className, "seed \(seed)")
            #expect(Self.comparable(fast.base) == Self.comparable(expected.base), "seed \(seed)")
            #expect(Self.tree(fast.message) == Self.tree(expected.message), "seed \(seed)")
            // Absent ids and times are made up on each side; present ones must agree.
            if RandomEnvelope.hasIdentity(body) {
                #expect(fast.base.id == expected.base.id && fast.base.createdTime == expected.base.createdTime)
            }
        }
        // Not vacuous: most bodies Foundation accepts take the one-pass path.
        let (accepted, fast) = tally.counts
        #expect(accepted > 1000, "too few valid envelopes generated: \(accepted)")
        #expect(Double(fast) >= 0.8 * Double(accepted), "one pass took \(fast) of \(accepted) valid envelopes")
    }

    @Test func encodingReadsBackAsFoundationsEncoding() async throws {
        await propertyCheck(count: 2000, input: Gen.uint64()) { seed in
            var random = SplitMix64(seed: seed)
            let base = RandomEnvelope.base(&random)
            switch random.next() % 4 {
            case 0: Self.checkEncoding(ProbeReply(payload: RandomEnvelope.string(&random),
                                                  error: RandomEnvelope.maybeError(&random)), base, seed)
            case 1: Self.checkEncoding(MessageReply(error: RandomEnvelope.maybeError(&random)), base, seed)
            case 2:
                let reply = PingHostReply(connected: random.next() % 2 == 0, currentHostStatus: .connected,
                                          noReconnect: random.next() % 2 == 0,
                                          error: RandomEnvelope.maybeError(&random))
                Self.checkEncoding(reply, base, seed)
            default: Self.checkEncoding(ProbeMsg(payload: RandomEnvelope.string(&random)), base, seed)
            }
        }
    }

    @Test func replyFactoryOutputTakesTheOnePassEncoder() throws {
        let request = MessageBase(id: "f366ad3eff954f0fbf9e572ac462ff7b", createdTime: 1,
                                  headers: MessageHeaders(replyTo: "zstack.message.cloudbus.x"))
        let reply = try #require(ReplyFactory.errorReply(SysError.timeout(className: "A", id: "b", timeoutMillis: 5),
                                                         to: request))
        var bytes: [UInt8] = []
        try JSONBytesEncoder.encode(OutboundEnvelope(fields: MessageFields(message: reply.message, base: reply.base)),
                                    into: &bytes)
        let decoded = try EnvelopeCodec.decode(Data(bytes), registry: WireExamples.registry)
        #expect(decoded.base.headers.correlationId == request.id)
        #expect(decoded.base.headers.schema?["error"] == ErrorCode.javaClassName)
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "a repeated object key"),
        (#"{"a\u0062":1}"#, "an escaped object key"),
        (#"{"a":1.0}"#, "a number with a fraction or exponent where an integer is expected"),
        (#"{"a":1e2}"#, "a number with a fraction or exponent where an integer is expected"),
        (#"{"a":-0}"#, "negative zero"),
        (#"{"a":99999999999999999999}"#, "an integer out of range"),
    ])
    func givesUpWhereJSONDecoderDecides(_ text: String, _ reason: String) throws {
        struct Probe: Decodable { var a: Int64 }
        let error = #expect(throws: JSONBytesDecoder.Unsupported.self) {
            try Self.decode(Probe.self, text)
        }
        #expect(error?.reason == reason)
    }

    @Test(.timeLimit(.minutes(1)))
    func headersKeptAsTextAreReadInTheSamePassWithOneScan() throws {
        // 20,000 unknown headers: one scan of the headers object, not one per member (which would be quadratic).
        let headers = (0..<20_000).map { #""x-\#($0)":{"v":[\#($0)]}"# }.joined(separator: ",")
        let body = Data(#"{"cloudbus.test.ProbeMsg":{"payload":"p","id":"f366ad3eff954f0fbf9e572ac462ff7b","createdTime":1,"headers":{"replyTo":"r",\#(headers),"task-context":{"a":1}}}}"#.utf8)
        let decoded = try #require(EnvelopeCodec.decodeInOnePass(body, registry: WireExamples.registry))
        #expect(decoded.base.headers.extra.count == 20_000)
        #expect(decoded.base.headers.extra["x-19999"] == RawJSON(validated: Data(#"{"v":[19999]}"#.utf8)))
        #expect(decoded.base.headers.taskContext == RawJSON(validated: Data(#"{"a":1}"#.utf8)))
        #expect(decoded.base.headers.replyTo == "r")
    }

    @Test("headers and base fields read directly from the bytes agree with JSONDecoder's reading, member by member",
          arguments: [
              #"{"noReply":true,"isReply":"TRUE","correlationId":null,"x-a":[1,{"b":null}],"task-context":{"k":"v"}}"#,
              #"{"noReply":null,"isReply":false,"schema":{"error":"E"},"replyTo":"zstack.message.cloudbus.x"}"#,
              #"{}"#,
          ])
    func directHeadersAgreeWithFoundation(_ headersText: String) throws {
        let text = #"{"id":"0123456789abcdef0123456789abcdef","createdTime":5,"timeout":null,"systemTags":["a"],"headers":"#
            + headersText + "}"
        let fast = try Self.decode(MessageBase.self, text)
        var foundation = try JSONDecoder().decode(MessageBase.self, from: Data(text.utf8))
        // JSONDecoder's branch leaves raw members as placeholders for EnvelopeCodec's second scan: fill them the
        // same way; the direct read took the same text in its one visit.
        let headers = Data(headersText.utf8)
        let members = try #require(try JSONScanner.members(ofObjectIn: headers, range: 0..<headers.count))
        foundation.headers.fillUnread(from: members.map { member in
            (key: member.key, value: RawJSON(validated: JSONScanner.slice(headers, member.value)))
        })
        #expect(fast == foundation)
    }

    @Test("a wrong type in a base field or a header fails the direct read as it fails JSONDecoder's",
          arguments: [#"{"createdTime":"5"}"#, #"{"headers":{"replyTo":5}}"#, #"{"headers":{"noReply":[]}}"#,
                      #"{"headers":[]}"#, #"{"systemTags":"a"}"#])
    func directMismatchesThrowLikeFoundation(_ text: String) throws {
        #expect(throws: DecodingError.self) { try Self.decode(MessageBase.self, text) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MessageBase.self, from: Data(text.utf8)) }
    }

    @Test func aLoneSurrogateIsJSONDecodersCall() throws {
        struct Probe: Decodable { var a: String }
        #expect(throws: JSONBytesDecoder.Unsupported.self) { try Self.decode(Probe.self, #"{"a":"\ud800x"}"#) }
        #expect(try Self.decode(Probe.self, #"{"a":"\ud83d\ude00 \u00e9\n\"\\\/"}"#).a == "😀 é\n\"\\/")
    }

    @Test func swallowedMismatchesTakeFoundationsBranch() throws {
        // `JSONValue` tries string, bool, integer, double… with `try?`: each mismatch must be thrown, not given up on.
        let text = #"{"s":"x","b":true,"i":-12,"d":2.5,"n":null,"o":{"k":[1,"2",false]}}"#
        let fast = try Self.decode(JSONValue.self, text)
        #expect(fast == (try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))))
    }

    @Test func writesEscapesAndNumbersAsJSONReadsThem() throws {
        struct Probe: Encodable { var s = "a\"b\\c/d\u{1}\n\té😀"; var i: Int8 = -7; var u: UInt64 = .max; var d = 0.1
                                  var whole = 3.0; var list: [Int32?] = [1, nil] }
        var bytes: [UInt8] = []
        try JSONBytesEncoder.encode(Probe(), into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"{"s":"a\"b\\c/d\u0001\n\té😀","i":-7,"u":18446744073709551615,"d":0.1,"whole":3,"list":[1,null]}"#)
        #expect(throws: JSONBytesDecoder.Unsupported.self) {
            var out: [UInt8] = []
            try JSONBytesEncoder.encode(["x": Double.infinity], into: &out)
        }
    }

    @Test("a string's escapes are written wherever they fall in its eight-byte runs, as JSONEncoder writes them")
    func escapesAtEveryPositionOfARun() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        for length in 0...20 {
            for position in 0..<max(length, 1) {
                for special in ["\"", "\\", "\u{1}", "\u{1f}", "\n", "é", "😀", "/"] {
                    var characters = [String](repeating: "a", count: length)
                    if length > 0 { characters[position] = special }
                    let text = characters.joined()
                    var bytes: [UInt8] = []
                    try JSONBytesEncoder.encode([text], into: &bytes)
                    #expect(bytes == Array(try encoder.encode([text])), "\(text.debugDescription)")
                }
            }
        }
    }

    // MARK: Helpers

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let data = Data(text.utf8)
        try JSONScanner.validate(data)
        return try data.withUnsafeBytes { try JSONBytesDecoder.decode(type, validated: $0) }
    }

    /// One-pass bytes and Foundation bytes of the same envelope, read back as trees, must be equal.
    private static func checkEncoding<M: BusMessage>(_ message: M, _ base: MessageBase, _ seed: UInt64) {
        var bytes: [UInt8] = []
        do {
            try JSONBytesEncoder.encode(OutboundEnvelope(fields: MessageFields(message: message, base: base)),
                                        into: &bytes)
            let fast = try JSONValue(parsing: Data(bytes))
            let foundation = try JSONValue(parsing: EnvelopeCodec.encodeWithFoundation(message, base: base))
            #expect(fast == foundation, "seed \(seed): \(String(decoding: bytes, as: UTF8.self))")
        } catch {
            Issue.record("seed \(seed): \(error)")
        }
    }

    private static func tree<M: BusMessage>(_ message: M) -> JSONValue? {
        (try? EnvelopeCodec.encodeWithFoundation(message, base: MessageBase(id: "x", createdTime: 0)))
            .flatMap { try? JSONValue(parsing: $0) }
    }

    private static func comparable(_ base: MessageBase) -> MessageBase {
        var base = base
        base.id = ""
        base.createdTime = 0
        return base
    }

    /// Counts across the property's runs.
    final class Tally: @unchecked Sendable {  // @unchecked: only touched under `lock`
        private let lock = NSLock()
        private var accepted = 0, fast = 0

        func add(foundationAccepted: Bool, fast took: Bool) {
            lock.withLock {
                if foundationAccepted { accepted += 1 }
                if took { fast += 1 }
            }
        }

        var counts: (accepted: Int, fast: Int) { lock.withLock { (accepted, fast) } }
    }
}

/// Random envelope text: mostly valid messages of registered classes, written with random whitespace, key order and
/// escapes, with unknown members, odd headers and the occasional wrong type, repeated key or fraction mixed in.
enum RandomEnvelope {
    static let classes = [ProbeMsg.className, PingHostMsg.className, PingHostReply.className,
                          MessageReply.className, "org.zstack.Unknown"]

    static func body(_ random: inout SplitMix64) -> String {
        let className = classes[Int(random.next() % UInt64(classes.count))]
        var members: [(String, JSONValue)] = []
        switch className {
        case ProbeMsg.className: if chance(&random, 0.8) { members.append(("payload", .string(string(&random)))) }
        case PingHostMsg.className: if chance(&random, 0.95) { members.append(("hostUuid", .string(string(&random)))) }
        case PingHostReply.className:
            if chance(&random, 0.7) { members.append(("connected", .bool(chance(&random, 0.5)))) }
            if chance(&random, 0.5) { members.append(("currentHostStatus", .string("Connected"))) }
            if chance(&random, 0.5) { members.append(("noReconnect", .bool(chance(&random, 0.5)))) }
        default: break
        }
        if className.contains("Reply") {
            if chance(&random, 0.7) { members.append(("success", .bool(chance(&random, 0.5)))) }
            if chance(&random, 0.3) { members.append(("error", errorTree(&random))) }
        }
        let id = uuid(&random)
        if chance(&random, 0.95) { members.append(("id", .string(id))) }
        if chance(&random, 0.95) { members.append(("createdTime", .integer(Int64(random.next() % 2_000_000_000_000)))) }
        if chance(&random, 0.6) { members.append(("timeout", .integer(Int64(random.next() % 3_600_000) - 1))) }
        if chance(&random, 0.3) { members.append(("messageDeadline", .integer(Int64(random.next() % 2_000_000_000_000)))) }
        // Service ids and reply inboxes recur across messages (the decoder interns them): a few values, often.
        if chance(&random, 0.7) { members.append(("serviceId", .string(recurring(&random, "host.")))) }
        if chance(&random, 0.1) { members.append(("systemTags", .array([.string(string(&random))]))) }
        if chance(&random, 0.9) { members.append(("headers", headers(&random, id: id))) }
        for _ in 0..<Int(random.next() % 3) where chance(&random, 0.3) {
            members.append(("unknown" + String(random.next() % 5), value(&random, depth: 0)))
        }
        // Mutations that change what JSONDecoder makes of the body.
        if chance(&random, 0.05), !members.isEmpty {
            members[Int(random.next() % UInt64(members.count))].1 = value(&random, depth: 0)  // a wrong type, maybe
        }
        if chance(&random, 0.03), let first = members.first { members.append(first) }  // a repeated key
        var inner = ""
        write(.object([:]), ordered: members.shuffled(using: &random), into: &inner, &random)
        var text = ""
        space(&text, &random)
        text += "{"
        space(&text, &random)
        writeString(className, into: &text, &random)
        space(&text, &random)
        text += ":" + inner + "}"
        space(&text, &random)
        if chance(&random, 0.02) { text.removeLast() }  // truncated
        return text
    }

    /// Whether the body carries its own `id` and `createdTime` (absent or null ones are made up on each side).
    static func hasIdentity(_ body: Data) -> Bool {
        guard let inner = (try? JSONValue(parsing: body))?.objectValue?.values.first?.objectValue else { return false }
        return inner["id"]?.stringValue != nil && inner["createdTime"]?.int64Value != nil
    }

    static func base(_ random: inout SplitMix64) -> MessageBase {
        var extra: [String: RawJSON] = [:]
        if chance(&random, 0.3) { extra["x-" + String(random.next() % 9)] = RawJSON(validated: Data(#"{"a":[1,"b"]}"#.utf8)) }
        return MessageBase(
            id: uuid(&random), serviceId: chance(&random, 0.7) ? "zstack.message.cloudbus." + uuid(&random) : nil,
            createdTime: Int64(random.next() % 2_000_000_000_000),
            timeout: chance(&random, 0.5) ? Int64(random.next() % 100_000) : MessageBase.noTimeout,
            headers: MessageHeaders(correlationId: uuid(&random), isReply: "true",
                                    schema: chance(&random, 0.5) ? ["error": ErrorCode.javaClassName] : [:],
                                    taskContext: chance(&random, 0.5) ? .emptyObject : nil, extra: extra))
    }

    static func maybeError(_ random: inout SplitMix64) -> ErrorCode? {
        guard chance(&random, 0.5) else { return nil }
        return ErrorCode(code: "SYS.100" + String(random.next() % 10), description: string(&random),
                         details: chance(&random, 0.5) ? string(&random) : nil,
                         cause: chance(&random, 0.3) ? ErrorCode(code: "HOST.1", details: string(&random)) : nil,
                         opaque: chance(&random, 0.3) ? ["noReconnect": .bool(true), "n": .integer(-3),
                                                         "d": .double(2.5), "s": .string(string(&random))] : nil)
    }

    private static func errorTree(_ random: inout SplitMix64) -> JSONValue {
        var error: [String: JSONValue] = ["code": .string("SYS.1000"), "details": .string(string(&random))]
        if chance(&random, 0.3) { error["cause"] = .object(["code": .string("HOST.1")]) }
        if chance(&random, 0.3) { error["opaque"] = .object(["k": value(&random, depth: 1)]) }
        return .object(error)
    }

    private static func headers(_ random: inout SplitMix64, id: String) -> JSONValue {
        var headers: [String: JSONValue] = [:]
        // A request's correlation id is its own id (the decoder hands out the id's string again).
        if chance(&random, 0.9) { headers["correlationId"] = .string(chance(&random, 0.5) ? id : uuid(&random)) }
        if chance(&random, 0.8) { headers["replyTo"] = .string(recurring(&random, "zstack.message.cloudbus.")) }
        if chance(&random, 0.5) { headers["noReply"] = chance(&random, 0.8) ? .string("false") : .bool(false) }
        // Read member by member on the direct path: flags as strings, booleans, null or a wrong type; ids as null.
        if chance(&random, 0.3) {
            headers["isReply"] = [.string("true"), .bool(true), .null, .integer(1)][Int(random.next() % 4)]
        }
        if chance(&random, 0.05) { headers["correlationId"] = chance(&random, 0.5) ? .null : .integer(7) }
        if chance(&random, 0.5) {
            // Read as a `[String: String]` without a container: entries of the right and of a wrong type.
            var schema: [String: JSONValue] = [:]
            for index in 0..<Int(random.next() % 3) { schema["f\(index)"] = .string(string(&random)) }
            if chance(&random, 0.05) { schema["bad"] = [.null, .integer(1), .object([:])][Int(random.next() % 3)] }
            headers["schema"] = chance(&random, 0.03) ? .array([]) : .object(schema)
        }
        if chance(&random, 0.7) { headers["task-context"] = .object(["api": .string(string(&random))]) }
        if chance(&random, 0.2) { headers["x-" + String(random.next() % 3)] = value(&random, depth: 1) }
        return .object(headers)
    }

    private static func value(_ random: inout SplitMix64, depth: Int) -> JSONValue {
        switch random.next() % (depth > 2 ? 6 : 8) {
        case 0: return .null
        case 1: return .bool(chance(&random, 0.5))
        case 2: return .integer(Int64(bitPattern: random.next()) >> Int64(random.next() % 63))
        case 3: return .double(Double(Int64(random.next() % 100_000)) / 64)
        case 4, 5: return .string(string(&random))
        case 6: return .array((0..<Int(random.next() % 4)).map { _ in value(&random, depth: depth + 1) })
        default:
            var object: [String: JSONValue] = [:]
            for index in 0..<Int(random.next() % 4) { object["k\(index)"] = value(&random, depth: depth + 1) }
            return .object(object)
        }
    }

    static func string(_ random: inout SplitMix64) -> String {
        let pieces = ["a", "Z", "0", " ", "/", "\"", "\\", "\n", "\t", "\u{1}", "é", "中", "😀", "\u{7f}", "-_."]
        return (0..<Int(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
    }

    /// One of three values after `prefix`, or now and then a fresh one, or a short one, or one with odd characters.
    private static func recurring(_ random: inout SplitMix64, _ prefix: String) -> String {
        switch random.next() % 8 {
        case 0: prefix + uuid(&random)
        case 1: "s" + string(&random)
        case 2: prefix + string(&random)
        default: prefix + ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "x"][
            Int(random.next() % 3)]
        }
    }

    private static func uuid(_ random: inout SplitMix64) -> String {
        String(format: "%016llx%016llx", random.next(), random.next())
    }

    private static func chance(_ random: inout SplitMix64, _ probability: Double) -> Bool {
        Double(random.next() % 1_000_000) < probability * 1_000_000
    }

    private static func space(_ text: inout String, _ random: inout SplitMix64) {
        if chance(&random, 0.2) { text += [" ", "\n", "\t ", "\r\n"][Int(random.next() % 4)] }
    }

    /// JSON text of `value`, or of `ordered` members when given (an object whose members keep that order, repeats
    /// included), with random whitespace, escapes for characters that need none, and fractions for some integers.
    private static func write(_ value: JSONValue, ordered: [(String, JSONValue)]? = nil, into text: inout String,
                              _ random: inout SplitMix64) {
        space(&text, &random)
        switch value {
        case .null: text += "null"
        case .bool(let bool): text += bool ? "true" : "false"
        case .integer(let integer): text += chance(&random, 0.02) ? "\(integer).0" : "\(integer)"
        case .double(let double): text += "\(double)"
        case .string(let string): writeString(string, into: &text, &random)
        case .array(let elements):
            text += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { text += "," }
                write(element, into: &text, &random)
            }
            text += "]"
        case .object(let object):
            text += "{"
            for (index, member) in (ordered ?? object.map { ($0.key, $0.value) }).enumerated() {
                if index > 0 { text += "," }
                space(&text, &random)
                writeString(member.0, into: &text, &random)
                space(&text, &random)
                text += ":"
                write(member.1, into: &text, &random)
            }
            if chance(&random, 0.02), ordered == nil, !object.isEmpty { text += "," }  // a trailing comma
            text += "}"
        }
        space(&text, &random)
    }

    private static func writeString(_ string: String, into text: inout String, _ random: inout SplitMix64) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\t": text += chance(&random, 0.5) ? "\\t" : "\\u0009"
            case "/": text += chance(&random, 0.5) ? "\\/" : "/"
            case "😀": text += chance(&random, 0.5) ? "\\ud83d\\ude00" : "😀"
            case "é": text += chance(&random, 0.5) ? "\\u00e9" : "é"
            default:
                if scalar.value < 0x20 {
                    text += String(format: "\\u%04x", scalar.value)
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}
