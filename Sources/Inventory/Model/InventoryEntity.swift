/// The kinds of things the inventory stores; errors use it to say what a uuid or field belongs to.
public enum InventoryEntity: String, Sendable, Hashable, CaseIterable {
    case host
    case vm
    case vmDeviceAddress
    case zbsPrimaryStorage

    /// The key of this entity's list in an inventory file (`hosts`, `vms`).
    public var listKey: String {
        switch self {
        case .host: "hosts"
        case .vm: "vms"
        case .vmDeviceAddress: "deviceAddresses"
        case .zbsPrimaryStorage: "zbsPrimaryStorages"
        }
    }
}
