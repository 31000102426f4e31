import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.DeleteVolumeMsg`: active clients first (an open volume fails with
/// ``ZbsVolumeInUse``), then `/volume/delete` with `force`.
public struct DeleteVolumeHandler: BusHandler {
    public typealias Message = DeleteVolumeMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.volumeKey(message.installPath) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { DeleteVolumeReply(error: $0) }) {
            try await calls.deleteVolume(
                primaryStorageUuid: message.primaryStorageUuid, installPath: message.installPath,
                force: message.force, deadline: context.deadline)
            return DeleteVolumeReply()
        }
    }
}
