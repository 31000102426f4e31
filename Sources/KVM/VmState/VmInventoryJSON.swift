import CloudBus
import Foundation
import Inventory
import Primitives

/// The VM as ZStack's `VmInstanceInventory` JSON, as `/vm/state/change` carries it.
public enum VmInventoryJSON {
    /// Restricted to the fields this worker keeps (`uuid`, `state`, `hostUuid`, `lastHostUuid`, `type`,
    /// `clusterUuid`); absent fields are omitted, as Gson omits nulls.
    public static func of(_ vm: VmRecord) -> JSONValue {
        var fields: [String: JSONValue] = [
            "uuid": .string(vm.uuid), "state": .string(vm.state.rawValue), "type": .string(vm.type.rawValue),
        ]
        if let hostUuid = vm.hostUuid { fields["hostUuid"] = .string(hostUuid) }
        if let lastHostUuid = vm.lastHostUuid { fields["lastHostUuid"] = .string(lastHostUuid) }
        if let clusterUuid = vm.clusterUuid { fields["clusterUuid"] = .string(clusterUuid) }
        return .object(fields)
    }
}
