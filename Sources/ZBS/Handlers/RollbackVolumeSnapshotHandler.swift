import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.RollbackVolumeSnapshotMsg` with `/snapshot/rollback`.
public struct RollbackVolumeSnapshotHandler: BusHandler {
    public typealias Message = RollbackVolumeSnapshotMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.volumeKey(message.installPath) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { RollbackVolumeSnapshotReply(error: $0) }) {
            let info = try await calls.rollbackSnapshot(
                primaryStorageUuid: message.primaryStorageUuid, installPath: message.installPath,
                deadline: context.deadline)
            return RollbackVolumeSnapshotReply(
                installPath: info.installPath, size: info.size, actualSize: info.actualSize)
        }
    }
}
