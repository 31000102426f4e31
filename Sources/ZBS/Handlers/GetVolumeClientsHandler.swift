import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.GetVolumeClientsMsg` with `/volume/clients` (sync, try-next).
public struct GetVolumeClientsHandler: BusHandler {
    public typealias Message = GetVolumeClientsMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.volumeKey(message.installPath) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { GetVolumeClientsReply(error: $0) }) {
            GetVolumeClientsReply(clients: try await calls.activeClients(
                primaryStorageUuid: message.primaryStorageUuid, installPath: message.installPath,
                deadline: context.deadline))
        }
    }
}
