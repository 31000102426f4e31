import CloudBus
import ZBSMessages

/// The anti-split-brain check ZStack runs before starting a VM (`ExternalPrimaryStorageKvmFactory
/// .beforeStartVmOnKvm`): no other host may still hold one of the VM's non-shareable ZBS volumes open.
///
/// For each volume (shareable ones and ones without install path skipped), in order, `/volume/clients` (sync,
/// try-next, one attempt deadline per Connected MDS); the first client whose IP is not the destination host's
/// rejects the start with "find active clients for volume[uuid:…, installPath …, client:<ip>]". A volume whose
/// MDS all fail rejects the start with the aggregated MDS error (so within Connected MDS × attempt deadline).
public struct SplitBrainCheck: Sendable {
    /// The start is rejected because another host holds a volume open.
    public struct Conflict: Error, Sendable, Equatable, ErrorCodeConvertible, CustomStringConvertible {
        public var volumeUuid: String
        public var installPath: String
        public var clientIp: String

        public var errorCode: ErrorCode { SysError.operationError.error(description) }
        public var description: String {
            "find active clients for volume[uuid:\(volumeUuid), installPath \(installPath), client:\(clientIp)]"
        }
    }

    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) {
        self.calls = calls
    }

    /// Returns when the VM may start on the host with management IP `destinationIp`.
    /// - Throws: ``Conflict``, ``MdsCallError`` (no MDS could answer), `InventoryError`, `CancellationError`.
    public func check(
        volumes: [ZbsVmVolume], destinationIp: String, deadline: ContinuousClock.Instant? = nil
    ) async throws {
        for volume in volumes where !volume.shareable {
            guard let installPath = volume.installPath, !installPath.isEmpty else { continue }
            let clients = try await calls.activeClients(
                primaryStorageUuid: volume.primaryStorageUuid, installPath: installPath, deadline: deadline)
            if let other = clients.first(where: { $0.ip != destinationIp }) {
                throw Conflict(volumeUuid: volume.volumeUuid, installPath: installPath, clientIp: other.ip)
            }
        }
    }
}
