import Inventory

/// Which device addresses a device-info answer records for a VM (ZStack's `VirtualPciDeviceKvmExtensionPoint`),
/// decided without touching the store:
/// - each disk whose `resourceUuid` is a ZStack uuid and whose address has a field set, under the volume uuid;
/// - each NIC whose MAC (case-insensitive) is one of the VM's NICs and whose address has a field set, under the
///   NIC's uuid;
/// - the memory balloon, when present with an address, under ``VmDeviceAddress/memBalloonResourceUuid``.
///
/// Everything else is skipped and counted in ``skipped`` (an unknown MAC, an empty address, a null balloon, a
/// disk without serial). A resource given twice keeps the later entry, so one upsert never holds duplicates.
/// Whether a volume uuid belongs to the VM is not checked: the inventory has no volume list.
public struct DeviceAddressRecording: Sendable, Equatable {
    public private(set) var addresses: [VmDeviceAddress] = []
    public private(set) var skipped = 0

    public init(vmUuid: String, response: VmDevicesInfoResponse, nics: [VmNicRecord]) {
        var byResource: [String: VmDeviceAddress] = [:]
        var order: [String] = []
        func keep(_ resourceUuid: String, _ address: DeviceAddress) {
            let entry = VmDeviceAddress(vmUuid: vmUuid, resourceUuid: resourceUuid, address: address)
            guard entry.problems().isEmpty else {
                skipped += 1
                return
            }
            if byResource.updateValue(entry, forKey: resourceUuid) == nil { order.append(resourceUuid) }
        }
        for disk in response.virtualDeviceInfoList {
            guard let resourceUuid = disk.resourceUuid, let address = disk.deviceAddress else {
                skipped += 1
                continue
            }
            keep(resourceUuid, address)
        }
        var nicByMac: [String: String] = [:]
        for nic in nics { nicByMac[nic.mac] = nic.uuid }
        for nic in response.nicInfos {
            guard let mac = nic.macAddress, let nicUuid = nicByMac[VmNicRecord.normalizedMac(mac)],
                let address = nic.deviceAddress
            else {
                skipped += 1
                continue
            }
            keep(nicUuid, address)
        }
        if let balloon = response.memBalloonInfo, let address = balloon.deviceAddress {
            keep(VmDeviceAddress.memBalloonResourceUuid, address)
        } else {
            skipped += 1
        }
        addresses = order.compactMap { byResource[$0] }
    }
}
