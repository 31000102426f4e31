import Foundation
import Primitives

/// One network interface of a VM (ZStack's `VmNicVO`, the fields the device-info sync needs): the device-info
/// sync matches the MAC the agent reads from the domain XML against these to record a NIC's bus address under
/// the NIC's uuid.
public struct VmNicRecord: Sendable, Hashable, Codable {
    /// ZStack resource uuid of the NIC.
    public var uuid: String
    public var vmUuid: String
    /// `xx:xx:xx:xx:xx:xx`, stored lower-case (see ``normalizedMac(_:)``).
    public var mac: String

    /// `mac` is normalized to lower case.
    public init(uuid: String, vmUuid: String, mac: String) {
        self.uuid = uuid
        self.vmUuid = vmUuid
        self.mac = Self.normalizedMac(mac)
    }

    /// The spelling MACs are stored and compared in: trimmed, lower case (libvirt writes lower case; ZStack
    /// compares case-insensitively).
    public static func normalizedMac(_ mac: String) -> String {
        mac.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// Every rule this record breaks. NIC problems are reported on the VM entry they belong to
    /// (`vms[3].nics[0].mac`), so `index` is the VM's and `nicIndex` the NIC's position in its list.
    public func problems(index: Int? = nil, nicIndex: Int? = nil) -> [InventoryFieldProblem] {
        let prefix = nicIndex.map { "nics[\($0)]" } ?? "nics"
        var found: [InventoryFieldProblem] = []
        func note(_ field: String, _ value: String, _ reason: String) {
            found.append(InventoryFieldProblem(
                entity: .vm, index: index, field: "\(prefix).\(field)", value: value, reason: reason))
        }
        if let reason = ZStackUUID.problem(uuid) { note("uuid", uuid, reason) }
        if let reason = ZStackUUID.problem(vmUuid) { note("vmUuid", vmUuid, reason) }
        if !Self.isMac(mac) { note("mac", mac, "must be a MAC address written xx:xx:xx:xx:xx:xx") }
        return found
    }

    static func isMac(_ value: String) -> Bool {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 6 && parts.allSatisfy { part in
            part.utf8.count == 2 && part.utf8.allSatisfy(ZStackUUID.isLowercaseHexDigit)
        }
    }
}
