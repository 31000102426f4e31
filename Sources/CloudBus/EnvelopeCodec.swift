import Foundation
import Primitives

/// Reads and writes ZStack bus bodies: UTF-8 JSON `{"<Java class name>": {fields}}`.
///
/// Decoding a known class with a valid body takes one pass of ``JSONBytesDecoder`` over the bytes (no `JSONDecoder`,
/// no tree); encoding one pass of ``JSONBytesEncoder``. Whatever those do not vouch for — and every body that fails —
/// goes through Foundation's `JSONDecoder`/`JSONEncoder` as before, so both paths give the same result (checked
/// differentially in the tests). Only when `JSONDecoder` fails too does the codec parse the body generically to
/// classify the failure and recover the base fields for an error reply. All functions are pure and safe to call
/// from any thread.
public enum EnvelopeCodec {
    /// Default body size limit: 4 MiB, far above any ZStack message this worker handles.
    public static let defaultMaxBodyBytes = 4 * 1024 * 1024

    /// Decodes one body.
    /// - Throws: `EnvelopeError`; `recoveredBase` on the error is set whenever the body had a recognisable
    ///   inner object, even when the class is unknown or a field is wrong.
    public static func decode(
        _ body: Data,
        registry: MessageRegistry,
        maxBodyBytes: Int = defaultMaxBodyBytes
    ) throws(EnvelopeError) -> DecodedEnvelope {
        guard body.count <= maxBodyBytes else {
            throw .bodyTooLarge(size: body.count, limit: maxBodyBytes)
        }
        if let decoded = decodeInOnePass(body, registry: registry) { return decoded }
        return try decodeWithFoundation(body, registry: registry)
    }

    /// The Foundation way: what ``decode(_:registry:maxBodyBytes:)-(Data,_,_)`` falls back to (and explains every
    /// failure with), and what the tests compare the one-pass decoder with.
    static func decodeWithFoundation(_ body: Data, registry: MessageRegistry) throws(EnvelopeError)
        -> DecodedEnvelope
    {
        let decoder = JSONDecoder()
        decoder.userInfo[MessageRegistry.userInfoKey] = registry
        let decoded: DecodedEnvelope
        do {
            decoded = try decoder.decode(InboundEnvelope.self, from: body).decoded
        } catch {
            throw EnvelopeDiagnosis.classify(error, body: body, registry: registry)
        }
        guard decoded.base.headers.hasUnreadMembers else { return decoded }
        return decoded.withHeaders(rawHeaders(decoded.base.headers, in: body))
    }

    /// The hot path: a valid body of a registered class whose fields ``JSONBytesDecoder`` vouches for. Nil sends the
    /// body the Foundation way (which also explains what is wrong with it).
    static func decodeInOnePass(_ body: Data, registry: MessageRegistry) -> DecodedEnvelope? {
        body.withUnsafeBytes { decodeInOnePass($0, registry: registry) }
    }

    /// The class is found from the name's bytes (``MessageRegistry/position(spelledBy:)``), and its name is the
    /// registry's own string: nothing is hashed with `Hasher` or allocated for it.
    static func decodeInOnePass(_ body: UnsafeRawBufferPointer, registry: MessageRegistry) -> DecodedEnvelope? {
        // Validation and the message object's member table in one pass (`withOnlyMemberObject`).
        let decoded = JSONBytesDecoder.withOnlyMemberObject(body) { key, object -> DecodedEnvelope? in
            guard let position = registry.position(spelledBy: key) else { return nil }
            return try? decodeFields(registry.type(at: position), className: registry.className(at: position),
                                     position: position, object: object)
        }
        guard let decoded else { return nil }
        // `JSONBytesDecoder` hands the headers' unknown members out as raw text in the same pass.
        assert(!decoded.base.headers.hasUnreadMembers, "the one-pass decoder left header placeholders")
        return decoded
    }

    /// Through the type's own witness (``BusMessage/decodeEnvelopeFields(_:)``), specialised for it.
    private static func decodeFields(_ type: any BusMessage.Type, className: String, position: Int,
                                     object: JSONBytesDecoder.MemberObject) throws -> DecodedEnvelope {
        let (message, base) = try type.decodeEnvelopeFields(object)
        return DecodedEnvelope(className: className, base: base, message: message, classPosition: position)
    }

    /// The headers with the members the decoder skipped (unknown ones, `task-context`) as their raw text: one scan
    /// that builds no tree. The body already passed `JSONDecoder`, so the scan does not fail; if it did, the
    /// skipped members would be dropped, not left as placeholders.
    private static func rawHeaders(_ headers: MessageHeaders, in body: Data) -> MessageHeaders {
        var headers = headers
        let members = (try? JSONScanner.members(ofObjectIn: body))?.first
            .flatMap { try? JSONScanner.members(ofObjectIn: body, range: $0.value) }?
            .last { $0.key == "headers" }
            .flatMap { try? JSONScanner.members(ofObjectIn: body, range: $0.value) } ?? []
        headers.fillUnread(from: members.map { ($0.key, RawJSON(validated: JSONScanner.slice(body, $0.value))) })
        return headers
    }

    /// Decodes one body given as bytes: in place on the one-pass path; copied once into `Data` (after the size
    /// check) for the Foundation way.
    public static func decode(
        _ body: some Collection<UInt8>,
        registry: MessageRegistry,
        maxBodyBytes: Int = defaultMaxBodyBytes
    ) throws(EnvelopeError) -> DecodedEnvelope {
        guard body.count <= maxBodyBytes else {
            throw .bodyTooLarge(size: body.count, limit: maxBodyBytes)
        }
        let inPlace = body.withContiguousStorageIfAvailable { bytes in
            decodeInOnePass(UnsafeRawBufferPointer(bytes), registry: registry)
        }
        if let decoded = inPlace ?? nil { return decoded }
        return try decodeWithFoundation(Data(body), registry: registry)
    }

    /// Encodes `message` with `base` the way Gson does: compact, nulls omitted, header flags as strings, `/` not
    /// escaped. Members in one pass: the message's own fields, then the base fields (JSON readers, Gson included, do
    /// not depend on the order; the Foundation fallback writes another one).
    /// - Throws: `EncodingError.invalidValue` only if a field holds a non-finite floating-point number.
    public static func encode<M: BusMessage>(_ message: M, base: MessageBase) throws -> Data {
        Data(try encodeBytes(message, base: base))
    }

    /// ``encode(_:base:)`` as the bytes a publish takes, without a copy into `Data`. Inlinable, so that each message
    /// type's ``BusMessage/envelopeBytes(base:)`` is its own specialised copy (see there).
    @inlinable
    public static func encodeBytes<M: BusMessage>(_ message: M, base: MessageBase) throws -> [UInt8] {
        // Exactly the reply's size: the bytes are kept as the cached answer (the reply cache counts their capacity).
        // Message and base are written where they are: an `OutboundEnvelope` would hold a copy of each (a retain and
        // a release for every reference in them).
        if let bytes = try? JSONBytesEncoder.bytes(member: M.className, value: { encoder in
            try MessageFields.encode(message, base, to: encoder)
        }) {
            return bytes
        }
        return [UInt8](try encodeWithFoundation(message, base: base))
    }

    /// The Foundation way: what ``encode(_:base:)`` falls back to, and what the tests compare it with.
    @usableFromInline
    static func encodeWithFoundation<M: BusMessage>(_ message: M, base: MessageBase) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(OutboundEnvelope(fields: MessageFields(message: message, base: base)))
    }
}
