import Foundation
import Inventory
import Testing

@Suite("VM NICs and virtualizer info in the inventory")
struct VmNicStoreTests {
    func nicUuid(_ number: Int) -> String { uuid(number, kind: 0xe) }

    func addVms(to inventory: any InventoryBackend) async throws {
        try await inventory.upsertHosts([host(1)])
        try await inventory.upsertVms([
            VmRecord(uuid: vmUuid(1), state: .running, hostUuid: hostUuid(1)),
            VmRecord(uuid: vmUuid(2), state: .stopped, lastHostUuid: hostUuid(1)),
        ])
    }

    @Test(arguments: StoreBackend.available) func replaceNicsStoresTheCompleteListWithLowerCaseMacs(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await addVms(to: inventory)
            try await inventory.replaceNics(ofVm: vmUuid(1), with: [
                VmNicRecord(uuid: nicUuid(2), vmUuid: vmUuid(1), mac: "52:54:00:AA:BB:02"),
                VmNicRecord(uuid: nicUuid(1), vmUuid: vmUuid(1), mac: "52:54:00:aa:bb:01"),
            ])
            #expect(try await inventory.nics(ofVm: vmUuid(1)) == [
                VmNicRecord(uuid: nicUuid(1), vmUuid: vmUuid(1), mac: "52:54:00:aa:bb:01"),
                VmNicRecord(uuid: nicUuid(2), vmUuid: vmUuid(1), mac: "52:54:00:aa:bb:02"),
            ])
            #expect(try await inventory.nics(ofVm: vmUuid(1)).last?.mac == "52:54:00:aa:bb:02")

            try await inventory.replaceNics(ofVm: vmUuid(1), with: [
                VmNicRecord(uuid: nicUuid(3), vmUuid: vmUuid(1), mac: "52:54:00:aa:bb:03")])
            #expect(try await inventory.nics(ofVm: vmUuid(1)).map(\.uuid) == [nicUuid(3)])
            #expect(try await inventory.nics(ofVm: vmUuid(2)).isEmpty)
        }
    }

    @Test(arguments: StoreBackend.available) func invalidNicsAndUnknownVmsStoreNothing(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await addVms(to: inventory)
            await #expect(throws: InventoryError.self) {
                try await inventory.replaceNics(ofVm: vmUuid(1), with: [
                    VmNicRecord(uuid: nicUuid(1), vmUuid: vmUuid(1), mac: "52-54-00-aa-bb-01")])
            }
            await #expect(throws: InventoryError.self) {
                try await inventory.replaceNics(ofVm: vmUuid(1), with: [
                    VmNicRecord(uuid: nicUuid(1), vmUuid: vmUuid(2), mac: "52:54:00:aa:bb:01")])
            }
            await #expect(throws: InventoryError.notFound(entity: .vm, uuid: vmUuid(9))) {
                try await inventory.replaceNics(ofVm: vmUuid(9), with: [])
            }
            #expect(try await inventory.nics(ofVm: vmUuid(1)).isEmpty)
        }
    }

    @Test(arguments: StoreBackend.available) func virtualizerInfoIsKeptPerVmAndReplaced(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await addVms(to: inventory)
            #expect(try await inventory.virtualizerInfo(ofVm: vmUuid(1)) == nil)
            try await inventory.saveVirtualizerInfo(VmVirtualizerInfo(vmUuid: vmUuid(1), virtualizer: "qemu-kvm", version: "4.2.0"))
            try await inventory.saveVirtualizerInfo(VmVirtualizerInfo(vmUuid: vmUuid(1), virtualizer: "qemu-kvm", version: "6.2.0"))
            #expect(try await inventory.virtualizerInfo(ofVm: vmUuid(1))?.version == "6.2.0")
            await #expect(throws: InventoryError.notFound(entity: .vm, uuid: vmUuid(9))) {
                try await inventory.saveVirtualizerInfo(VmVirtualizerInfo(vmUuid: vmUuid(9), virtualizer: "q", version: "1"))
            }
        }
    }
}

@Suite("Inventory import of VM NICs")
struct NicImportTests {
    func nicUuid(_ number: Int) -> String { uuid(number, kind: 0xe) }

    func document(vmExtra: String, secondVmExtra: String = "") -> Data {
        Data("""
            {"hosts": [{"uuid": "\(hostUuid(1))", "managementIp": "127.0.0.1", "status": "Connected"}],
             "vms": [{"uuid": "\(vmUuid(1))", "state": "Running", "hostUuid": "\(hostUuid(1))"\(vmExtra)},
                     {"uuid": "\(vmUuid(2))", "state": "Stopped", "lastHostUuid": "\(hostUuid(1))"\(secondVmExtra)}]}
            """.utf8)
    }

    @Test(arguments: StoreBackend.available) func nicsAreImportedAsEachVmsCompleteListAndAbsentListsLeaveNicsAlone(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let withNics = try InventoryImport.batch(fromJSON: document(vmExtra: """
                , "nics": [{"uuid": "\(nicUuid(1))", "mac": "52:54:00:AA:00:01"},
                           {"uuid": "\(nicUuid(2))", "mac": "52:54:00:aa:00:02"}]
                """))
            #expect(withNics.nics[vmUuid(1)]?.count == 2)
            #expect(withNics.nics[vmUuid(2)] == nil)
            _ = try await inventory.importBatch(withNics)
            #expect(try await inventory.nics(ofVm: vmUuid(1)).map(\.mac) == ["52:54:00:aa:00:01", "52:54:00:aa:00:02"])

            _ = try await inventory.importBatch(try InventoryImport.batch(fromJSON: document(vmExtra: "")))
            #expect(try await inventory.nics(ofVm: vmUuid(1)).count == 2)

            _ = try await inventory.importBatch(try InventoryImport.batch(fromJSON: document(vmExtra: #", "nics": []"#)))
            #expect(try await inventory.nics(ofVm: vmUuid(1)).isEmpty)
        }
    }

    @Test func badNicsAreReportedOnTheirVmEntryAndNothingIsStored() async throws {
        #expect(throws: InventoryError.self) {
            try InventoryImport.batch(fromJSON: document(vmExtra: #", "nics": {"uuid": "x"}"#))
        }
        do {
            _ = try InventoryImport.batch(fromJSON: document(vmExtra: """
                , "nics": [{"uuid": "\(nicUuid(1))", "mac": "zz"}, {"mac": "52:54:00:00:00:01", "port": 1}, 7]
                """))
            Issue.record("expected invalidRecords")
        } catch {
            #expect(problemLocations(error) == [
                "vms[0].nics[1].port", "vms[0].nics[1].uuid", "vms[0].nics[2]", "vms[0].nics[0].mac",
            ])
        }
        do {
            _ = try InventoryImport.batch(fromJSON: document(
                vmExtra: #", "nics": [{"uuid": "\#(nicUuid(1))", "mac": "52:54:00:00:00:01"}]"#,
                secondVmExtra: #", "nics": [{"uuid": "\#(nicUuid(1))", "mac": "52:54:00:00:00:02"}]"#))
            Issue.record("expected invalidRecords")
        } catch {
            #expect(problemLocations(error) == ["vms[1].nics[0].uuid"])
        }
    }

    @Test(arguments: StoreBackend.available) func aNicOfAnotherStoredVmIsRefused(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            _ = try await inventory.importBatch(try InventoryImport.batch(fromJSON: document(
                vmExtra: "", secondVmExtra: #", "nics": [{"uuid": "\#(nicUuid(1))", "mac": "52:54:00:00:00:01"}]"#)))
            var batch = try InventoryImport.batch(fromJSON: document(
                vmExtra: #", "nics": [{"uuid": "\#(nicUuid(1))", "mac": "52:54:00:00:00:01"}]"#))
            await #expect(throws: InventoryError.self) { _ = try await inventory.importBatch(batch) }
            #expect(try await inventory.nics(ofVm: vmUuid(1)).isEmpty)
            // Moving it explicitly (the other VM's new list leaves it out) is accepted.
            batch.nics[vmUuid(2)] = []
            _ = try await inventory.importBatch(batch)
            #expect(try await inventory.nics(ofVm: vmUuid(1)).map(\.uuid) == [nicUuid(1)])
            #expect(try await inventory.nics(ofVm: vmUuid(2)).isEmpty)
        }
    }
}
