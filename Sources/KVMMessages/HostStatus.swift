import CloudBus

/// ZStack's `HostStatus` as a string-backed value: the known constants, and any other string kept verbatim so a
/// newer management node's status does not make a reply undecodable.
public struct HostStatus: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public static let connecting = HostStatus(rawValue: "Connecting")
    public static let connected = HostStatus(rawValue: "Connected")
    public static let disconnected = HostStatus(rawValue: "Disconnected")

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
