import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.CreateVolumeSnapshotsMsg`: checks that every volume is attached (else the whole
/// batch fails before any HTTP, message in `locale`), then `/snapshot/create` per volume in batch order; the first
/// failure ends the batch (snapshots already taken are kept, as ZStack's batch does).
public struct CreateVolumeSnapshotsHandler: BusHandler {
    public typealias Message = CreateVolumeSnapshotsMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    /// One volume: that volume's key, so the snapshot is ordered with the volume's other operations. Several: the
    /// storage's key (a message has one key; see docs/design-zbs.md).
    public func resourceKey(for message: Message) -> String {
        message.volumes.count == 1
            ? ZbsReplying.volumeKey(message.volumes[0].installPath)
            : ZbsReplying.storageKey(message.primaryStorageUuid)
    }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        let locale: SnapshotAttachmentCheck.Locale
        switch message.locale {
        case nil: locale = .en_US
        case let text?:
            guard let known = SnapshotAttachmentCheck.Locale(rawValue: text) else {
                let details = "unknown locale[\(text)]: expected en_US or zh_CN"
                throw BadRequest(SysError.invalidArgument.error(details), reason: details)
            }
            locale = known
        }
        return try await ZbsReplying.run(failed: { CreateVolumeSnapshotsReply(error: $0) }) {
            try SnapshotAttachmentCheck.check(
                message.volumes.map { ($0.volumeUuid, $0.vmInstanceUuid) }, locale: locale)
            var snapshots: [ZbsSnapshotResult] = []
            for job in message.volumes {
                let info = try await calls.createSnapshot(
                    primaryStorageUuid: message.primaryStorageUuid, installPath: job.installPath,
                    snapshot: message.snapshotName, deadline: context.deadline)
                snapshots.append(ZbsSnapshotResult(
                    volumeUuid: job.volumeUuid, installPath: info.installPath, size: info.size,
                    actualSize: info.actualSize))
            }
            return CreateVolumeSnapshotsReply(snapshots: snapshots)
        }
    }
}
