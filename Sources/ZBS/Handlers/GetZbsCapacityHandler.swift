import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.GetCapacityMsg` with `/capacity` (try-next) and the totals over the pools.
public struct GetZbsCapacityHandler: BusHandler {
    public typealias Message = GetZbsCapacityMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.storageKey(message.primaryStorageUuid) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { GetZbsCapacityReply(error: $0) }) {
            let pools = try await calls.capacity(
                primaryStorageUuid: message.primaryStorageUuid, logicalPools: message.logicalPoolNames,
                deadline: context.deadline)
            return GetZbsCapacityReply(
                pools: pools, totalCapacity: pools.reduce(0) { $0 + $1.capacity },
                availableCapacity: pools.reduce(0) { $0 + $1.available })
        }
    }
}
