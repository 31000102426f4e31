/// A volume or snapshot path in ZStack's form, `zbs://<logical pool>/<volume>[@<snapshot>]`, and its agent form
/// `cbd:<physical pool>/<logical pool>/<volume>[@<snapshot>]`.
///
/// Conversion needs the storage's pools; an unknown logical pool fails before any HTTP request
/// (``MdsCallError/unknownLogicalPool(pool:primaryStorageUuid:)``).
public struct ZbsInstallPath: Sendable, Hashable, CustomStringConvertible {
    public var logicalPool: String
    public var volume: String
    public var snapshot: String?

    public init(logicalPool: String, volume: String, snapshot: String? = nil) {
        self.logicalPool = logicalPool
        self.volume = volume
        self.snapshot = snapshot
    }

    /// Parses `zbs://lp/vol[@snap]`.
    /// - Throws: ``MdsCallError/invalidInstallPath(_:)``.
    public init(parsing text: String) throws(MdsCallError) {
        guard text.hasPrefix("zbs://") else { throw .invalidInstallPath(text) }
        let rest = text.dropFirst("zbs://".count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { throw .invalidInstallPath(text) }
        let nameAndSnapshot = parts[1].split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard !nameAndSnapshot[0].isEmpty, nameAndSnapshot.count == 1 || !nameAndSnapshot[1].isEmpty else {
            throw .invalidInstallPath(text)
        }
        self.init(
            logicalPool: String(parts[0]), volume: String(nameAndSnapshot[0]),
            snapshot: nameAndSnapshot.count == 2 ? String(nameAndSnapshot[1]) : nil)
    }

    /// Parses the agent form `cbd:pp/lp/vol[@snap]` (the physical pool is dropped); nil for anything else.
    public init?(agentPath text: String) {
        guard text.hasPrefix("cbd:") else { return nil }
        let parts = text.dropFirst("cbd:".count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty,
            let parsed = try? ZbsInstallPath(parsing: "zbs://\(parts[1])/\(parts[2])")
        else { return nil }
        self = parsed
    }

    /// `zbs://lp/vol[@snap]`.
    public var description: String {
        "zbs://\(logicalPool)/\(volume)" + (snapshot.map { "@\($0)" } ?? "")
    }

    /// The volume this path belongs to (the snapshot dropped): the key that orders operations on one volume.
    public var volumePath: ZbsInstallPath { ZbsInstallPath(logicalPool: logicalPool, volume: volume) }

    /// `cbd:pp/lp/vol[@snap]`.
    public func agentPath(physicalPool: String) -> String {
        "cbd:\(physicalPool)/\(logicalPool)/\(volume)" + (snapshot.map { "@\($0)" } ?? "")
    }

    /// A path the agent returned, in ZStack form when it is a `cbd:` path, unchanged otherwise.
    public static func fromAgent(_ text: String) -> String {
        ZbsInstallPath(agentPath: text)?.description ?? text
    }
}
