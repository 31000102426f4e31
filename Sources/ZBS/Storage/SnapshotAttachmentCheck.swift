import CloudBus

/// The batch-snapshot rule (ZStack `MevocoVolumeBase`, reworded by ZSTAC-82153): every volume of a batch must be
/// attached to a VM, else the whole batch fails before any snapshot is taken.
public enum SnapshotAttachmentCheck {
    /// The language of the message; ZStack's catalogue has `en_US` and `zh_CN`.
    public enum Locale: String, Sendable, Codable, CaseIterable {
        case en_US
        case zh_CN
    }

    /// A volume of the batch is not attached.
    public struct NotAttached: Error, Sendable, Equatable, ErrorCodeConvertible, CustomStringConvertible {
        /// `{0}`: every volume uuid of the batch, in batch order.
        public var batchVolumeUuids: [String]
        /// `{1}`: the first unattached volume.
        public var volumeUuid: String
        public var locale: Locale

        public init(batchVolumeUuids: [String], volumeUuid: String, locale: Locale) {
            self.batchVolumeUuids = batchVolumeUuids
            self.volumeUuid = volumeUuid
            self.locale = locale
        }

        public var errorCode: ErrorCode { SysError.operationError.error(description) }

        /// en: "cannot take snapshot for volumes[{0}]: volume[uuid:{1}] is not attached to any VM";
        /// zh: "无法为云盘[{0}]创建快照：云盘[uuid:{1}]未挂载到任何云主机"; `{0}` is the uuids joined by ", ".
        public var description: String {
            let all = batchVolumeUuids.joined(separator: ", ")
            switch locale {
            case .en_US:
                return "cannot take snapshot for volumes[\(all)]: volume[uuid:\(volumeUuid)] is not attached to any VM"
            case .zh_CN:
                return "无法为云盘[\(all)]创建快照：云盘[uuid:\(volumeUuid)]未挂载到任何云主机"
            }
        }
    }

    /// Throws ``NotAttached`` for the first volume (in batch order) whose VM uuid is nil or empty.
    public static func check(
        _ volumes: [(volumeUuid: String, vmInstanceUuid: String?)], locale: Locale
    ) throws(NotAttached) {
        guard let unattached = volumes.first(where: { ($0.vmInstanceUuid ?? "").isEmpty }) else { return }
        throw NotAttached(
            batchVolumeUuids: volumes.map(\.volumeUuid), volumeUuid: unattached.volumeUuid, locale: locale)
    }
}
