import AMQP
import CloudBus
import Glibc
import Worker

/// The request every responder answers: a `cloudbus.worker.EchoMsg` envelope with a ~200-byte payload, encoded
/// once per run. Each request patches its 32-hex id in place (the same id is the message `id`, the
/// `headers.correlationId`, and — unless `sameKey` — the start of the payload, so the worker's executor sees one
/// key per request as the echo handler intends).
///
/// The id packs the run tag (4 hex), the window slot (4 hex) and a sequence number (24 hex): a reply names its
/// slot, and a stale reply from an earlier run or request never matches.
struct BenchRequest: Sendable {
    /// The encoded request with every id zeroed; `patch` writes one request's ids into a copy of it.
    let template: [UInt8]
    /// Where the 32-hex ids start in `template`: the payload's head (unless `sameKey`), `id`, `correlationId`.
    let idOffsets: [Int]
    let runTag: UInt16

    init(serviceId: String, replyTo: String, payloadBytes: Int, runTag: UInt16, sameKey: Bool, createdTime: Int64) {
        self.runTag = runTag
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        let placeholder = [UInt8](repeating: UInt8(ascii: "0"), count: 32)
        func text(_ string: String) { bytes.append(contentsOf: string.utf8) }
        func id() {
            offsets.append(bytes.count)
            bytes.append(contentsOf: placeholder)
        }
        text(#"{"\#(EchoMsg.className)":{"payload":""#)
        var filler = max(0, payloadBytes)
        if !sameKey && filler >= 33 {
            id()
            text("-")
            filler -= 33
        }
        bytes.append(contentsOf: [UInt8](repeating: UInt8(ascii: "x"), count: filler))
        text(#"","id":""#)
        id()
        text(#"","serviceId":"\#(serviceId)","createdTime":\#(createdTime),"timeout":300000,"headers":{"correlationId":""#)
        id()
        text(#"","replyTo":"\#(replyTo)","noReply":"false","schema":{}}}}"#)
        template = bytes
        idOffsets = offsets
    }

    var size: Int { template.count }

    func body(slot: Int, sequence: UInt64) -> [UInt8] {
        var body = template
        body.withUnsafeMutableBytes { patch($0, slot: slot, sequence: sequence) }
        return body
    }

    /// Writes request (`slot`, `sequence`)'s id over the previous one in `buffer`, a copy of `template`: 96 bytes
    /// rewritten in place, nothing allocated, so the load client sends every request from one buffer.
    func patch(_ buffer: UnsafeMutableRawBufferPointer, slot: Int, sequence: UInt64) {
        for offset in idOffsets {
            Self.writeHex(UInt64(runTag), digits: 4, into: buffer, at: offset)
            Self.writeHex(UInt64(slot), digits: 4, into: buffer, at: offset + 4)
            Self.writeHex(sequence, digits: 24, into: buffer, at: offset + 8)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func writeHex(_ value: UInt64, digits: Int, into raw: UnsafeMutableRawBufferPointer, at offset: Int) {
        var rest = value
        for index in stride(from: offset + digits - 1, through: offset, by: -1) {
            raw[index] = hexDigits[Int(rest & 0xF)]
            rest >>= 4
        }
    }

    /// What a reply says about itself, read by byte scan (no JSON model: the client must stay cheaper than the
    /// responders it measures). Nil fields when the reply lacks them.
    struct ReplyFacts {
        var runTag: UInt16
        var slot: Int
        var sequence: UInt64
        var success: Bool
    }

    static func facts(ofReply body: [UInt8]) -> ReplyFacts? {
        body.withUnsafeBytes { facts(ofReply: $0) }
    }

    static func facts(ofReply raw: UnsafeRawBufferPointer) -> ReplyFacts? {
        guard let start = valueStart(of: correlationIdKey, in: raw), raw[start] == UInt8(ascii: "\""),
              start + 33 <= raw.count, raw[start + 33] == UInt8(ascii: "\""),
              let tag = parseHex(raw, from: start + 1, digits: 4),
              let slot = parseHex(raw, from: start + 5, digits: 4),
              let sequence = parseHex(raw, from: start + 9, digits: 24)
        else { return nil }
        // Java reads a missing `success` as true.
        var success = true
        if let value = valueStart(of: successKey, in: raw) { success = raw[value] == UInt8(ascii: "t") }
        return ReplyFacts(runTag: UInt16(tag), slot: Int(slot), sequence: sequence, success: success)
    }

    private static let correlationIdKey = Array(#""correlationId""#.utf8)
    private static let successKey = Array(#""success""#.utf8)

    /// Index of the first byte of the value of the first `"key"`: after blanks, `:` and blanks.
    private static func valueStart(of key: [UInt8], in raw: UnsafeRawBufferPointer) -> Int? {
        guard let keyStart = NullResponder.firstOccurrence(of: key, in: raw) else { return nil }
        var index = keyStart + key.count
        var sawColon = false
        while index < raw.count {
            switch raw[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            case UInt8(ascii: ":") where !sawColon:
                sawColon = true
                index += 1
            default:
                return sawColon ? index : nil
            }
        }
        return nil
    }

    private static func parseHex(_ raw: UnsafeRawBufferPointer, from offset: Int, digits: Int) -> UInt64? {
        guard offset + digits <= raw.count else { return nil }
        var value: UInt64 = 0
        for index in offset..<(offset + digits) {
            let byte = raw[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
