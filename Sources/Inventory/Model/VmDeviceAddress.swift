import Primitives

/// Where one device of a VM (a volume, a NIC, the memory balloon) sits on the guest's buses: ZStack's
/// `VmInstanceDeviceAddressVO`, written by the device-info sync and keyed by (VM, resource).
public struct VmDeviceAddress: Sendable, Hashable, Codable {
    /// The fixed resource uuid under which ZStack records the memory balloon device.
    public static let memBalloonResourceUuid = "4780bf6d2fa65700f22e36c27e8ff05c"

    public var vmUuid: String
    /// The device's ZStack uuid: a volume uuid (the disk serial), a NIC uuid, or ``memBalloonResourceUuid``.
    public var resourceUuid: String
    public var address: DeviceAddress
    /// ZStack's optional per-device metadata and the class name that reads it, stored verbatim.
    public var metadata: String?
    public var metadataClass: String?

    public init(
        vmUuid: String, resourceUuid: String, address: DeviceAddress, metadata: String? = nil,
        metadataClass: String? = nil
    ) {
        self.vmUuid = vmUuid
        self.resourceUuid = resourceUuid
        self.address = address
        self.metadata = metadata
        self.metadataClass = metadataClass
    }

    /// Every rule this record breaks: both uuids are ZStack uuids and the address has at least one field set.
    public func problems(index: Int? = nil) -> [InventoryFieldProblem] {
        var found: [InventoryFieldProblem] = []
        func note(_ field: String, _ value: String, _ reason: String) {
            found.append(InventoryFieldProblem(
                entity: .vmDeviceAddress, index: index, field: field, value: value, reason: reason))
        }
        if let reason = ZStackUUID.problem(vmUuid) { note("vmUuid", vmUuid, reason) }
        if let reason = ZStackUUID.problem(resourceUuid) { note("resourceUuid", resourceUuid, reason) }
        if address.isEmpty { note("address", "", "must have at least one field set") }
        return found
    }
}
