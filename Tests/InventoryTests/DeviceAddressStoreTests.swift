import Inventory
import Testing

@Suite("VmDeviceAddressStore")
struct DeviceAddressStoreTests {
    private let disk = DeviceAddress(type: "drive", bus: "0", controller: "0", target: "0", unit: "1")
    private let nic = DeviceAddress(type: "pci", bus: "0x00", domain: "0x0000", slot: "0x03", function: "0x0")

    private func addVm(to inventory: any InventoryBackend) async throws {
        try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: .running, hostUuid: hostUuid(1))])
    }

    @Test(arguments: StoreBackend.available) func upsertIsKeyedByVmAndResource(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await addVm(to: inventory)
            let volume = VmDeviceAddress(vmUuid: vmUuid(1), resourceUuid: uuid(2, kind: 0xd), address: disk)
            let balloon = VmDeviceAddress(
                vmUuid: vmUuid(1), resourceUuid: VmDeviceAddress.memBalloonResourceUuid,
                address: DeviceAddress(type: "pci", slot: "0x05"))
            try await inventory.upsertDeviceAddresses([volume, balloon])
            var moved = volume
            moved.address.unit = "2"
            moved.metadata = #"{"k":"v"}"#
            moved.metadataClass = "org.example.Meta"
            try await inventory.upsertDeviceAddresses([moved])
            #expect(try await inventory.deviceAddresses(ofVm: vmUuid(1)) == [balloon, moved])
            #expect(try await inventory.deviceAddresses(ofVm: vmUuid(2)).isEmpty)
        }
    }

    @Test(arguments: StoreBackend.available) func unknownVmStoresNothing(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await addVm(to: inventory)
            await #expect(throws: InventoryError.notFound(entity: .vm, uuid: vmUuid(9))) {
                try await inventory.upsertDeviceAddresses([
                    VmDeviceAddress(vmUuid: vmUuid(1), resourceUuid: uuid(1, kind: 0xd), address: nic),
                    VmDeviceAddress(vmUuid: vmUuid(9), resourceUuid: uuid(2, kind: 0xd), address: disk),
                ])
            }
            #expect(try await inventory.deviceAddresses(ofVm: vmUuid(1)).isEmpty)
        }
    }

    @Test(arguments: StoreBackend.available) func invalidEntriesAreNamedAndNothingIsStored(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await addVm(to: inventory)
            let error = await #expect(throws: InventoryError.self) {
                try await inventory.upsertDeviceAddresses([
                    VmDeviceAddress(vmUuid: vmUuid(1), resourceUuid: uuid(1, kind: 0xd), address: nic),
                    VmDeviceAddress(vmUuid: vmUuid(1), resourceUuid: "eth0", address: DeviceAddress()),
                ])
            }
            #expect(error.flatMap(problemLocations) == ["vmDeviceAddress.resourceUuid", "vmDeviceAddress.address"])
            #expect(try await inventory.deviceAddresses(ofVm: vmUuid(1)).isEmpty)
        }
    }
}
