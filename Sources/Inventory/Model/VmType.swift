/// The `type` column of a ZStack VM (`UserVm`, `ApplianceVm`, and types added by plugins).
///
/// An open set rather than an enum: plugins register their own types, and the tracer excludes some of them
/// (see ``VmStore/expectedVms(onHost:excludingTypes:)``), so an unknown type must survive a round trip.
public struct VmType: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static let userVm = VmType("UserVm")
    public static let applianceVm = VmType("ApplianceVm")
}
