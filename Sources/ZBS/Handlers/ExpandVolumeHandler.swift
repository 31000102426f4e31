import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.ExpandVolumeMsg` with `/volume/expand`.
public struct ExpandVolumeHandler: BusHandler {
    public typealias Message = ExpandVolumeMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.volumeKey(message.installPath) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { ExpandVolumeReply(error: $0) }) {
            let info = try await calls.expandVolume(
                primaryStorageUuid: message.primaryStorageUuid, installPath: message.installPath,
                size: message.size, deadline: context.deadline)
            return ExpandVolumeReply(size: info.size)
        }
    }
}
