import CloudBus
import ZBSMessages

/// A volume cannot be deleted while clients hold it open (ZBS supports neither deactivating nor blacklisting one).
public struct ZbsVolumeInUse: Error, Sendable, Equatable, ErrorCodeConvertible, CustomStringConvertible {
    public var installPath: String
    public var clients: [ZbsVolumeClient]

    public init(installPath: String, clients: [ZbsVolumeClient]) {
        self.installPath = installPath
        self.clients = clients
    }

    public var errorCode: ErrorCode { SysError.operationError.error(description) }

    public var description: String {
        "volume[installPath \(installPath)] still has active clients[\(clients.map(\.ip).joined(separator: ", "))]"
    }
}
