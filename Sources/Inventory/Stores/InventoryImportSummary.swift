/// How many rows an import added and replaced; what `inventory import` prints.
public struct InventoryImportSummary: Sendable, Hashable, CustomStringConvertible {
    public var hostsInserted: Int
    public var hostsUpdated: Int
    public var vmsInserted: Int
    public var vmsUpdated: Int
    public var zbsPrimaryStoragesInserted: Int = 0
    public var zbsPrimaryStoragesUpdated: Int = 0

    public init(hostsInserted: Int = 0, hostsUpdated: Int = 0, vmsInserted: Int = 0, vmsUpdated: Int = 0) {
        self.hostsInserted = hostsInserted
        self.hostsUpdated = hostsUpdated
        self.vmsInserted = vmsInserted
        self.vmsUpdated = vmsUpdated
    }

    public var hosts: Int { hostsInserted + hostsUpdated }
    public var vms: Int { vmsInserted + vmsUpdated }

    public var description: String {
        "imported \(hosts) host(s) (\(hostsInserted) new, \(hostsUpdated) updated) and "
            + "\(vms) VM(s) (\(vmsInserted) new, \(vmsUpdated) updated)"
            + (zbsPrimaryStoragesInserted + zbsPrimaryStoragesUpdated == 0 ? ""
                : " and \(zbsPrimaryStoragesInserted + zbsPrimaryStoragesUpdated) ZBS primary storage(s)"
                    + " (\(zbsPrimaryStoragesInserted) new, \(zbsPrimaryStoragesUpdated) updated)")
    }
}
