import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.DeleteVolumeSnapshotMsg` with `/snapshot/delete`.
public struct DeleteVolumeSnapshotHandler: BusHandler {
    public typealias Message = DeleteVolumeSnapshotMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.volumeKey(message.installPath) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { DeleteVolumeSnapshotReply(error: $0) }) {
            try await calls.deleteSnapshot(
                primaryStorageUuid: message.primaryStorageUuid, installPath: message.installPath,
                deadline: context.deadline)
            return DeleteVolumeSnapshotReply()
        }
    }
}
