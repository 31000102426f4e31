import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmMsg` with the anti-split-brain check
/// (``SplitBrainCheck``): success lets the VM start on `destinationHostIp`.
public struct CheckVolumeClientsBeforeStartVmHandler: BusHandler {
    public typealias Message = CheckVolumeClientsBeforeStartVmMsg
    public let check: SplitBrainCheck

    public init(calls: ZbsStorageCalls) { self.check = SplitBrainCheck(calls: calls) }

    public var expectsReply: Bool { true }

    /// Checks for one VM run one at a time.
    public func resourceKey(for message: Message) -> String { message.vmInstanceUuid }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        try await ZbsReplying.run(failed: { CheckVolumeClientsBeforeStartVmReply(error: $0) }) {
            try await check.check(
                volumes: message.volumes, destinationIp: message.destinationHostIp, deadline: context.deadline)
            return CheckVolumeClientsBeforeStartVmReply()
        }
    }
}
