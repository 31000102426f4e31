import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.QueryVolumeMsg` with `/volume/query` (try-next).
public struct QueryVolumeHandler: BusHandler {
    public typealias Message = QueryVolumeMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.volumeKey(message.installPath) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { QueryVolumeReply(error: $0) }) {
            let info = try await calls.queryVolume(
                primaryStorageUuid: message.primaryStorageUuid, installPath: message.installPath,
                deadline: context.deadline)
            return QueryVolumeReply(size: info.size, actualSize: info.actualSize, parentUri: info.parentUri)
        }
    }
}
