import Foundation
import Inventory

/// kvmagent's answer to `/sync/vm/deviceinfo` (`VmDevicesInfoResponse`): where the guest sees each device of a
/// VM, read from the libvirt domain XML, and the virtualizer running it.
///
/// Read leniently: a list item that does not have the expected shape is dropped (and counted in
/// ``droppedItems``), never failing the whole answer; a null or absent list reads as empty.
public struct VmDevicesInfoResponse: Sendable, Equatable {
    /// One `<interface>`: its MAC and bus address.
    public struct NicInfo: Sendable, Hashable, Decodable {
        public var macAddress: String?
        public var deviceAddress: DeviceAddress?
    }

    /// One `<disk>` (resourceUuid = the disk serial, i.e. the volume uuid), or the `<memballoon>`.
    public struct DeviceInfo: Sendable, Hashable, Decodable {
        public var resourceUuid: String?
        public var deviceAddress: DeviceAddress?
    }

    /// `{uuid: vm uuid, virtualizer: "qemu-kvm", version: running qemu version}`.
    public struct VirtualizerInfo: Sendable, Hashable, Decodable {
        public var uuid: String?
        public var virtualizer: String?
        public var version: String?
    }

    public var nicInfos: [NicInfo]
    public var virtualDeviceInfoList: [DeviceInfo]
    public var memBalloonInfo: DeviceInfo?
    public var virtualizerInfo: VirtualizerInfo?
    /// List items (or objects) left out because they had the wrong shape.
    public var droppedItems: Int

    public init(
        nicInfos: [NicInfo] = [], virtualDeviceInfoList: [DeviceInfo] = [], memBalloonInfo: DeviceInfo? = nil,
        virtualizerInfo: VirtualizerInfo? = nil, droppedItems: Int = 0
    ) {
        self.nicInfos = nicInfos
        self.virtualDeviceInfoList = virtualDeviceInfoList
        self.memBalloonInfo = memBalloonInfo
        self.virtualizerInfo = virtualizerInfo
        self.droppedItems = droppedItems
    }

    /// Decodes a value, or nil when it does not have the shape (instead of failing its container).
    private struct Lossy<Value: Decodable>: Decodable {
        var value: Value?
        init(from decoder: any Decoder) throws { value = try? Value(from: decoder) }
    }

    private struct Fields: Decodable {
        var nicInfos: [Lossy<NicInfo>]?
        var virtualDeviceInfoList: [Lossy<DeviceInfo>]?
        var memBalloonInfo: Lossy<DeviceInfo>?
        var virtualizerInfo: Lossy<VirtualizerInfo>?
    }

    /// Reads a successful callback body.
    /// - Throws: `DecodingError` only when a list field is not a list.
    public init(json body: Data) throws {
        let fields = try JSONDecoder().decode(Fields.self, from: body)
        let nics = fields.nicInfos ?? []
        let disks = fields.virtualDeviceInfoList ?? []
        var dropped = nics.count(where: { $0.value == nil }) + disks.count(where: { $0.value == nil })
        if let balloon = fields.memBalloonInfo, balloon.value == nil { dropped += 1 }
        if let virtualizer = fields.virtualizerInfo, virtualizer.value == nil { dropped += 1 }
        self.init(
            nicInfos: nics.compactMap(\.value), virtualDeviceInfoList: disks.compactMap(\.value),
            memBalloonInfo: fields.memBalloonInfo?.value, virtualizerInfo: fields.virtualizerInfo?.value,
            droppedItems: dropped)
    }
}
