import CloudBus

/// A client that holds a ZBS volume open, as `/volume/clients` reports it.
public struct ZbsVolumeClient: Sendable, Hashable, Codable {
    /// The client host's IP (ZStack compares it with the destination host's management IP).
    public var ip: String
    public var port: Int

    public init(ip: String, port: Int = 0) {
        self.ip = ip
        self.port = port
    }
}
