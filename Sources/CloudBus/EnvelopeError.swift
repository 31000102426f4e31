/// Why a body could not be turned into a `DecodedEnvelope`.
///
/// Every case names what an operator needs to find the sender's mistake (class, field path, expected type), and
/// cases found after the body parsed as JSON carry the base fields recovered from it, so the worker can still send
/// an error reply to `headers.replyTo` with `correlationId` = the request id.
public enum EnvelopeError: Error, Sendable, Hashable {
    /// The body is larger than the configured limit; it was not parsed.
    case bodyTooLarge(size: Int, limit: Int)
    /// The body is not valid UTF-8 JSON.
    case malformedJSON(detail: String)
    /// The body is JSON but not `{"<className>": {…}}` with exactly one member whose value is an object.
    case notSingleKeyObject(detail: String)
    /// The envelope key names a class this worker has no type for.
    case unknownClass(name: String, base: MessageBase?)
    /// A required field is absent or null. `path` is relative to the inner object, e.g. `hostUuid`, `headers.replyTo`.
    case missingField(path: String, className: String, base: MessageBase?)
    /// A field holds the wrong JSON type or an invalid value (e.g. an unknown enum constant).
    case mistypedField(path: String, expected: String, className: String, base: MessageBase?)

    /// Base fields recovered from the body (best effort), when the body was JSON with a recognisable inner object.
    public var recoveredBase: MessageBase? {
        switch self {
        case .bodyTooLarge, .malformedJSON, .notSingleKeyObject: return nil
        case .unknownClass(_, let base), .missingField(_, _, let base), .mistypedField(_, _, _, let base): return base
        }
    }

    /// The envelope key, when the body got far enough to have one.
    public var className: String? {
        switch self {
        case .bodyTooLarge, .malformedJSON, .notSingleKeyObject: return nil
        case .unknownClass(let name, _): return name
        case .missingField(_, let name, _), .mistypedField(_, _, let name, _): return name
        }
    }

    /// A short stable label for metrics and logs: `body-too-large`, `malformed-json`, `not-single-key-object`,
    /// `unknown-class`, `missing-field`, `mistyped-field`.
    public var kind: String {
        switch self {
        case .bodyTooLarge: return "body-too-large"
        case .malformedJSON: return "malformed-json"
        case .notSingleKeyObject: return "not-single-key-object"
        case .unknownClass: return "unknown-class"
        case .missingField: return "missing-field"
        case .mistypedField: return "mistyped-field"
        }
    }

    /// One line for humans: suitable as a dead-letter header value and as an error reply's `details`.
    public var reason: String {
        switch self {
        case .bodyTooLarge(let size, let limit):
            return "message body of \(size) bytes exceeds the limit of \(limit) bytes"
        case .malformedJSON(let detail):
            return "message body is not valid JSON: \(detail)"
        case .notSingleKeyObject(let detail):
            return "message body must be {\"<class name>\": {fields}} with exactly one member: \(detail)"
        case .unknownClass(let name, let base):
            return "No service deals with message: \(name)\(Self.idSuffix(base))"
        case .missingField(let path, let name, let base):
            return "message \(name)\(Self.idSuffix(base)) is missing required field '\(path)'"
        case .mistypedField(let path, let expected, let name, let base):
            return "message \(name)\(Self.idSuffix(base)) has an invalid field '\(path)': expected \(expected)"
        }
    }

    /// The error to put in a reply: SYS.1008 for an unknown class (what ZStack's `dealWithUnknownMessage` sends),
    /// SYS.1007 (invalid argument) for every other case.
    public var replyError: ErrorCode {
        switch self {
        case .unknownClass: return SysError.unknownMessage.error(reason)
        default: return SysError.invalidArgument.error(reason)
        }
    }

    private static func idSuffix(_ base: MessageBase?) -> String {
        base.map { "[id: \($0.id)]" } ?? ""
    }
}

extension EnvelopeError: CustomStringConvertible {
    public var description: String { reason }
}
