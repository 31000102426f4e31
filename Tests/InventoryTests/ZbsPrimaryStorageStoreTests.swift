import Foundation
import Inventory
import Testing

@Suite("ZBS primary storages in the inventory")
struct ZbsPrimaryStorageStoreTests {
    static let uuid = "9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c"

    static func storage(_ statuses: [MdsStatus] = [.connected, .disconnected]) -> ZbsPrimaryStorageRecord {
        ZbsPrimaryStorageRecord(
            uuid: uuid,
            mds: statuses.enumerated().map { MdsRecord(addr: "192.0.2.\($0.offset + 1)", status: $0.element) },
            logicalPools: [ZbsLogicalPool(logicalPoolName: "lp", physicalPoolName: "pp")])
    }

    @Test(arguments: StoreBackend.available) func upsertReplacesTheStorageWholeAndKeepsMdsOrder(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertZbsPrimaryStorages([Self.storage([.connected, .disconnected, .connecting])])
            let stored = try #require(try await inventory.zbsPrimaryStorage(uuid: Self.uuid))
            #expect(stored.mds.map(\.addr) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
            #expect(stored.mds.map(\.agentPort) == [7763, 7763, 7763])
            #expect(stored.physicalPool(of: "lp") == "pp")

            var smaller = Self.storage([.connected])
            smaller.logicalPools = []
            try await inventory.upsertZbsPrimaryStorages([smaller])
            #expect(try await inventory.zbsPrimaryStorage(uuid: Self.uuid) == smaller)
            #expect(try await inventory.zbsPrimaryStorages() == [smaller])
            #expect(try await inventory.zbsPrimaryStorage(uuid: "0000000000000000000000000000000f") == nil)
        }
    }

    @Test(arguments: StoreBackend.available) func mdsStatusUpdatesReturnThePreviousStatus(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertZbsPrimaryStorages([Self.storage()])
            let previous = try await inventory.updateMdsStatus(
                primaryStorageUuid: Self.uuid, addr: "192.0.2.2", to: .connected)
            #expect(previous == .disconnected)
            #expect(try await inventory.zbsPrimaryStorage(uuid: Self.uuid)?.mds.map(\.status) == [.connected, .connected])
            await #expect(throws: InventoryError.self) {
                try await inventory.updateMdsStatus(primaryStorageUuid: Self.uuid, addr: "192.0.2.9", to: .connected)
            }
        }
    }

    @Test(arguments: StoreBackend.available) func severalMdsMayShareAnAddressOnDifferentPorts(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let shared = ZbsPrimaryStorageRecord(uuid: Self.uuid, mds: [
                MdsRecord(addr: "127.0.0.1", status: .connected, agentPort: 17001),
                MdsRecord(addr: "127.0.0.1", status: .connected, agentPort: 17002),
            ])
            try await inventory.upsertZbsPrimaryStorages([shared])
            try await inventory.updateMdsStatus(
                primaryStorageUuid: Self.uuid, addr: "127.0.0.1", agentPort: 17002, to: .disconnected)
            #expect(try await inventory.zbsPrimaryStorage(uuid: Self.uuid)?.mds.map(\.status) == [.connected, .disconnected])
        }
    }

    @Test(arguments: StoreBackend.available) func invalidStoragesAreRejectedWhole(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            var bad = Self.storage()
            bad.mds.append(MdsRecord(addr: "192.0.2.1", status: .connected))
            bad.mds.append(MdsRecord(addr: "192.0.2.5", status: .connected, agentPort: 0))
            do {
                try await inventory.upsertZbsPrimaryStorages([Self.storage(), bad])
                Issue.record("an invalid storage must be rejected")
            } catch InventoryError.invalidRecords(let problems) {
                #expect(problems.map(\.field) == ["mds[2].addr", "mds[3].agentPort"])
            }
            #expect(try await inventory.zbsPrimaryStorages().isEmpty)
            let empty = ZbsPrimaryStorageRecord(uuid: "NOT-A-UUID", mds: [])
            #expect(empty.problems().map(\.field) == ["uuid", "mds"])
        }
    }

    @Test(arguments: StoreBackend.available)
    func theInventoryFileImportsZbsPrimaryStorages(_ backend: StoreBackend) async throws {
        let json = """
            {"zbsPrimaryStorages": [
              {"uuid": "\(Self.uuid)",
               "mds": [{"addr": "192.0.2.1", "status": "Connected"},
                       {"addr": "192.0.2.2", "status": "Disconnected", "agentPort": 17763}],
               "logicalPools": [{"logicalPoolName": "lp", "physicalPoolName": "pp"}]}
            ]}
            """
        try await backend.withStore { inventory async throws in
            let batch = try InventoryImport.batch(fromJSON: Data(json.utf8))
            let summary = try await inventory.importBatch(batch)
            #expect(summary.zbsPrimaryStoragesInserted == 1)
            let stored = try #require(try await inventory.zbsPrimaryStorage(uuid: Self.uuid))
            #expect(stored.mds == [
                MdsRecord(addr: "192.0.2.1", status: .connected),
                MdsRecord(addr: "192.0.2.2", status: .disconnected, agentPort: 17763),
            ])
            #expect(try await inventory.importBatch(batch).zbsPrimaryStoragesUpdated == 1)
        }
    }

    @Test func badZbsEntriesNameListIndexAndField() throws {
        let json = """
            {"zbsPrimaryStorages": [
              {"uuid": "\(Self.uuid)", "mds": [{"addr": "192.0.2.1", "status": "Online", "port": 1}]},
              {"uuid": "\(Self.uuid)", "mds": [{"addr": "192.0.2.1", "status": "Connected"}], "pools": []}
            ]}
            """
        let problems: [InventoryFieldProblem]
        do {
            _ = try InventoryImport.batch(fromJSON: Data(json.utf8))
            Issue.record("must be rejected")
            return
        } catch {
            guard case .invalidRecords(let found) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            problems = found
        }
        do {
            let locations = problems.map(\.location)
            #expect(locations.contains("zbsPrimaryStorages[0].mds[0].port"))
            #expect(locations.contains("zbsPrimaryStorages[0].mds[0].status"))
            #expect(locations.contains("zbsPrimaryStorages[1].pools"))
            #expect(locations.contains("zbsPrimaryStorages[1].uuid"), "a repeated uuid")
        }
    }
}
