import CloudBus

/// What the MDS reports about a volume or snapshot after creating, querying, expanding or rolling it back.
public struct ZbsVolumeInfo: Sendable, Hashable, Codable {
    /// `zbs://lp/vol[@snap]` (converted from the agent's `cbd:` form); nil when the agent did not say.
    public var installPath: String?
    /// Virtual size in bytes as the agent reports it; nil when absent.
    public var size: Int64?
    /// Allocated size in bytes; nil when absent.
    public var actualSize: Int64?
    /// The parent (backing snapshot) in ZStack form, for `/volume/query`.
    public var parentUri: String?

    public init(installPath: String? = nil, size: Int64? = nil, actualSize: Int64? = nil, parentUri: String? = nil) {
        self.installPath = installPath
        self.size = size
        self.actualSize = actualSize
        self.parentUri = parentUri
    }
}
