import CloudBus
import ZBSMessages

/// Answers `cloudbus.worker.zbs.CreateVolumeMsg` with `/volume/create`. The size is `size` when given, else the
/// root volume allocation rule (``RootVolumeSize``); neither given is a `BadRequest`.
public struct CreateVolumeHandler: BusHandler {
    public typealias Message = CreateVolumeMsg
    public let calls: ZbsStorageCalls

    public init(calls: ZbsStorageCalls) { self.calls = calls }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String {
        ZbsReplying.volumeKey("zbs://\(message.logicalPool)/\(message.volumeName)")
    }

    /// The bytes to allocate, or nil when the message gives neither `size` nor `imageSize`/`rootDiskOfferingSize`.
    public static func allocationSize(_ message: Message) -> Int64? {
        if let size = message.size { return size }
        if let offering = message.rootDiskOfferingSize { return offering }
        guard let imageSize = message.imageSize else { return nil }
        return RootVolumeSize.allocation(
            imageSize: imageSize, imageActualSize: message.imageActualSize, offeringSize: nil)
    }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        guard let size = Self.allocationSize(message) else {
            let details = "CreateVolumeMsg for volume[\(message.volumeName)] gives no size: set size, imageSize or"
                + " rootDiskOfferingSize"
            throw BadRequest(SysError.invalidArgument.error(details), reason: details)
        }
        return try await ZbsReplying.run(failed: { CreateVolumeReply(error: $0) }) {
            let info = try await calls.createVolume(
                primaryStorageUuid: message.primaryStorageUuid, logicalPool: message.logicalPool,
                volume: message.volumeName, size: size, deadline: context.deadline)
            return CreateVolumeReply(installPath: info.installPath, size: info.size, actualSize: info.actualSize)
        }
    }
}
