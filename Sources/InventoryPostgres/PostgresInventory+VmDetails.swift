import Foundation
import Inventory
import NIOCore
import PostgresNIO

extension PostgresInventory: VmNicStore {
    public func replaceNics(ofVm vmUuid: String, with nics: [VmNicRecord]) async throws {
        let problems = VmNicRecord.replacementProblems(nics, ofVm: vmUuid)
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        try await transaction("replaceNics(ofVm: \(vmUuid), count: \(nics.count))") { connection in
            guard try await Self.exists("vms", uuid: vmUuid, on: connection) else {
                throw InventoryError.notFound(entity: .vm, uuid: vmUuid)
            }
            try await Self.replaceNics(vmUuid: vmUuid, with: nics, on: connection)
        }
    }

    public func nics(ofVm vmUuid: String) async throws -> [VmNicRecord] {
        try await bounded("nics(ofVm: \(vmUuid))") { client in
            var nics: [VmNicRecord] = []
            for try await (uuid, mac) in try await client.query(
                "SELECT uuid, mac FROM vm_nics WHERE vm_uuid = \(vmUuid) ORDER BY uuid"
            ).decode((String, String).self) {
                nics.append(VmNicRecord(uuid: uuid, vmUuid: vmUuid, mac: mac))
            }
            return nics
        }
    }

    /// Inside a transaction: deletes the VM's NICs and inserts `nics` (validated by the caller). A NIC uuid that
    /// belonged to another VM moves to this one.
    static func replaceNics(vmUuid: String, with nics: [VmNicRecord], on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM vm_nics WHERE vm_uuid = \(vmUuid)", logger: quiet)
        for nic in nics {
            try await connection.query("""
                INSERT INTO vm_nics (uuid, vm_uuid, mac) VALUES (\(nic.uuid), \(vmUuid), \(nic.mac))
                ON CONFLICT (uuid) DO UPDATE SET vm_uuid = excluded.vm_uuid, mac = excluded.mac
                """, logger: quiet)
        }
    }
}

extension PostgresInventory: VmDeviceAddressStore {
    public func upsertDeviceAddresses(_ addresses: [VmDeviceAddress]) async throws {
        let problems = addresses.flatMap { $0.problems() }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !addresses.isEmpty else { return }
        // Encoded before the transaction so it stays short.
        let rows = try addresses.map { entry in (entry, try entry.address.storedJSON()) }
        let vmUuids = Set(addresses.map(\.vmUuid)).sorted()
        try await transaction("upsertDeviceAddresses(\(addresses.count))") { connection in
            for vmUuid in vmUuids where try await !Self.exists("vms", uuid: vmUuid, on: connection) {
                throw InventoryError.notFound(entity: .vm, uuid: vmUuid)
            }
            for (entry, json) in rows {
                try await connection.query("""
                    INSERT INTO vm_device_addresses (vm_uuid, resource_uuid, device_address, metadata, metadata_class)
                    VALUES (\(entry.vmUuid), \(entry.resourceUuid), \(json), \(entry.metadata), \(entry.metadataClass))
                    ON CONFLICT (vm_uuid, resource_uuid) DO UPDATE SET
                        device_address = excluded.device_address, metadata = excluded.metadata,
                        metadata_class = excluded.metadata_class
                    """, logger: Self.quiet)
            }
        }
    }

    public func deviceAddresses(ofVm vmUuid: String) async throws -> [VmDeviceAddress] {
        let rows = try await bounded("deviceAddresses(ofVm: \(vmUuid))") { client in
            var rows: [(String, String, String?, String?)] = []
            for try await row in try await client.query("""
                SELECT resource_uuid, device_address, metadata, metadata_class FROM vm_device_addresses
                WHERE vm_uuid = \(vmUuid) ORDER BY resource_uuid
                """).decode((String, String, String?, String?).self) {
                rows.append(row)
            }
            return rows
        }
        let decoder = JSONDecoder()
        return try rows.map { resourceUuid, json, metadata, metadataClass in
            let address: DeviceAddress
            do {
                address = try decoder.decode(DeviceAddress.self, from: Data(json.utf8))
            } catch {
                throw InventoryError.storage(
                    operation: "deviceAddresses(ofVm: \(vmUuid))", path: location,
                    reason: "stored address of resource \(resourceUuid) is not valid JSON: \(error)")
            }
            return VmDeviceAddress(vmUuid: vmUuid, resourceUuid: resourceUuid, address: address, metadata: metadata,
                                   metadataClass: metadataClass)
        }
    }
}

extension PostgresInventory: VmVirtualizerInfoStore {
    public func saveVirtualizerInfo(_ info: VmVirtualizerInfo) async throws {
        try await transaction("saveVirtualizerInfo(vm: \(info.vmUuid))") { connection in
            guard try await Self.exists("vms", uuid: info.vmUuid, on: connection) else {
                throw InventoryError.notFound(entity: .vm, uuid: info.vmUuid)
            }
            try await connection.query("""
                INSERT INTO vm_virtualizer_info (vm_uuid, virtualizer, version)
                VALUES (\(info.vmUuid), \(info.virtualizer), \(info.version))
                ON CONFLICT (vm_uuid) DO UPDATE SET virtualizer = excluded.virtualizer, version = excluded.version
                """, logger: Self.quiet)
        }
    }

    public func virtualizerInfo(ofVm vmUuid: String) async throws -> VmVirtualizerInfo? {
        try await bounded("virtualizerInfo(ofVm: \(vmUuid))") { client in
            var found: VmVirtualizerInfo?
            for try await (virtualizer, version) in try await client.query(
                "SELECT virtualizer, version FROM vm_virtualizer_info WHERE vm_uuid = \(vmUuid)"
            ).decode((String, String).self) {
                found = VmVirtualizerInfo(vmUuid: vmUuid, virtualizer: virtualizer, version: version)
            }
            return found
        }
    }
}
