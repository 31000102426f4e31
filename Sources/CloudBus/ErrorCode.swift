import Primitives

/// ZStack's `ErrorCode` (in practice always an `ErrorCodeList`): what a failed reply carries in `error`.
///
/// `code` is `"<PREFIX>.<id>"` (e.g. `SYS.1001`), `description` the fixed text for that code, `details` the
/// formatted explanation of this occurrence. Fields this type does not name are not kept.
public struct ErrorCode: Sendable, Hashable {
    public var code: String
    public var description: String?
    public var details: String?
    /// `ErrorCodeList.causes`; normally absent.
    public var causes: [ErrorCode]?
    public var elaboration: String?
    public var location: String?
    /// Time spent, e.g. `"0ms"`, present when ZStack's elaboration is enabled.
    public var cost: String?
    /// Free-form data (e.g. a `noReconnect` hint in host ping failures).
    public var opaque: [String: JSONValue]?
    // An array stands in for an optional so the type can contain itself.
    private var causeStorage: [ErrorCode]

    public init(
        code: String,
        description: String? = nil,
        details: String? = nil,
        cause: ErrorCode? = nil,
        causes: [ErrorCode]? = nil,
        elaboration: String? = nil,
        location: String? = nil,
        cost: String? = nil,
        opaque: [String: JSONValue]? = nil
    ) {
        self.code = code
        self.description = description
        self.details = details
        self.causeStorage = cause.map { [$0] } ?? []
        self.causes = causes
        self.elaboration = elaboration
        self.location = location
        self.cost = cost
        self.opaque = opaque
    }

    /// The error this one wraps, if any.
    public var cause: ErrorCode? {
        get { causeStorage.first }
        set { causeStorage = newValue.map { [$0] } ?? [] }
    }

    /// Whether this is the given system error (compares `code` only, as Java's `isError` does).
    public func isError(_ error: SysError) -> Bool { code == error.rawValue }

    /// The class ZStack instantiates for every error; named in `headers.schema` so Java rebuilds that type.
    public static let javaClassName = "org.zstack.header.errorcode.ErrorCodeList"

    /// `headers.schema` entries for this error placed at `path` (e.g. `error`), including nested causes,
    /// parents first, as `JsonSchemaBuilder` lists them.
    public func schemaEntries(at path: String) -> [(path: String, className: String)] {
        var entries = [(path: path, className: Self.javaClassName)]
        if let cause { entries += cause.schemaEntries(at: "\(path).cause") }
        for (index, nested) in (causes ?? []).enumerated() {
            entries += nested.schemaEntries(at: "\(path).causes[\(index)]")
        }
        return entries
    }
}

extension ErrorCode: Codable {
    enum CodingKeys: String, CodingKey {
        case code, description, details, cause, causes, elaboration, location, cost, opaque
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            code: try container.decode(String.self, forKey: .code),
            description: try container.decodeIfPresent(String.self, forKey: .description),
            details: try container.decodeIfPresent(String.self, forKey: .details),
            cause: try container.decodeIfPresent(ErrorCode.self, forKey: .cause),
            causes: try container.decodeIfPresent([ErrorCode].self, forKey: .causes),
            elaboration: try container.decodeIfPresent(String.self, forKey: .elaboration),
            location: try container.decodeIfPresent(String.self, forKey: .location),
            cost: try container.decodeIfPresent(String.self, forKey: .cost),
            opaque: try container.decodeIfPresent([String: JSONValue].self, forKey: .opaque)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encodeIfPresent(details, forKey: .details)
        try container.encodeIfPresent(cause, forKey: .cause)
        try container.encodeIfPresent(causes, forKey: .causes)
        try container.encodeIfPresent(elaboration, forKey: .elaboration)
        try container.encodeIfPresent(location, forKey: .location)
        try container.encodeIfPresent(cost, forKey: .cost)
        try container.encodeIfPresent(opaque, forKey: .opaque)
    }
}
