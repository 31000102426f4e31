import Foundation
import GRDB

extension SQLiteInventory: VmDeviceAddressStore {
    public func upsertDeviceAddresses(_ addresses: [VmDeviceAddress]) async throws {
        let problems = addresses.flatMap { $0.problems() }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !addresses.isEmpty else { return }
        // Encoded before the transaction so it stays short.
        let rows: [StatementArguments] = try addresses.map { entry in
            [entry.vmUuid, entry.resourceUuid, try entry.address.storedJSON(), entry.metadata, entry.metadataClass]
        }
        let vmUuids = Set(addresses.map(\.vmUuid)).sorted()
        try await write("upsertDeviceAddresses(\(addresses.count))") { db in
            for vmUuid in vmUuids where try !SQLiteRows.exists(db, table: "vms", uuid: vmUuid) {
                throw InventoryError.notFound(entity: .vm, uuid: vmUuid)
            }
            let statement = try db.cachedStatement(sql: """
                INSERT INTO vm_device_addresses (vmUuid, resourceUuid, deviceAddress, metadata, metadataClass)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(vmUuid, resourceUuid) DO UPDATE SET
                    deviceAddress = excluded.deviceAddress, metadata = excluded.metadata,
                    metadataClass = excluded.metadataClass
                """)
            for arguments in rows { try statement.execute(arguments: arguments) }
        }
    }

    public func deviceAddresses(ofVm vmUuid: String) async throws -> [VmDeviceAddress] {
        let rows = try lookUp("deviceAddresses(ofVm: \(vmUuid))") { db in
            try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT resourceUuid, deviceAddress, metadata, metadataClass FROM vm_device_addresses
                    WHERE vmUuid = ? ORDER BY resourceUuid
                    """),
                arguments: [vmUuid]
            ).map { row -> [String?] in [row[0], row[1], row[2], row[3]] }
        }
        let decoder = JSONDecoder()
        return try rows.map { row in
            let resourceUuid = row[0] ?? ""
            let address: DeviceAddress
            do {
                address = try decoder.decode(DeviceAddress.self, from: Data((row[1] ?? "").utf8))
            } catch {
                throw InventoryError.storage(
                    operation: "deviceAddresses(ofVm: \(vmUuid))", path: path,
                    reason: "stored address of resource \(resourceUuid) is not valid JSON: \(error)")
            }
            return VmDeviceAddress(
                vmUuid: vmUuid, resourceUuid: resourceUuid, address: address, metadata: row[2], metadataClass: row[3])
        }
    }
}
