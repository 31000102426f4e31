import Foundation
import Primitives

/// Reads and writes ZStack bus bodies: UTF-8 JSON `{"<Java class name>": {fields}}`.
///
/// Decoding a known class with a valid body is a single `JSONDecoder` pass. Only when that fails does the codec
/// parse the body generically to classify the failure and recover the base fields for an error reply.
/// All functions are pure and safe to call from any thread.
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

    /// Decodes one body given as bytes (copied once into `Data`, after the size check).
    public static func decode(
        _ body: some Collection<UInt8>,
        registry: MessageRegistry,
        maxBodyBytes: Int = defaultMaxBodyBytes
    ) throws(EnvelopeError) -> DecodedEnvelope {
        guard body.count <= maxBodyBytes else {
            throw .bodyTooLarge(size: body.count, limit: maxBodyBytes)
        }
        return try decode(Data(body), registry: registry, maxBodyBytes: maxBodyBytes)
    }

    /// Encodes `message` with `base` the way Gson does: compact, nulls omitted, header flags as strings, `/` not
    /// escaped. Member order is unspecified (as for any JSON object).
    /// - Throws: `EncodingError.invalidValue` only if a field holds a non-finite floating-point number.
    public static func encode<M: BusMessage>(_ message: M, base: MessageBase) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(OutboundEnvelope(fields: MessageFields(message: message, base: base)))
    }
}
