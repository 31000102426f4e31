import Inventory
import Testing

@Suite("HostStore")
struct HostStoreTests {
    @Test(arguments: StoreBackend.available) func upsertThenGetReturnsTheSameHostWithTheDefaultAgentPort(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let record = HostRecord(uuid: hostUuid(1), managementIp: "127.0.0.1", status: .connecting)
            #expect(record.agentPort == 7070)
            try await inventory.upsertHosts([record])
            #expect(try await inventory.host(uuid: hostUuid(1)) == record)
            #expect(try await inventory.host(uuid: hostUuid(2)) == nil)
        }
    }

    @Test(arguments: StoreBackend.available) func upsertReplacesEveryFieldOfAnExistingHost(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertHosts([host(1), host(2)])
            let moved = HostRecord(
                uuid: hostUuid(1), managementIp: "::1", agentPort: 17070, status: .disconnected, clusterUuid: nil,
                name: nil)
            try await inventory.upsertHosts([moved])
            #expect(try await inventory.host(uuid: hostUuid(1)) == moved)
            #expect(try await inventory.host(uuid: hostUuid(2)) == host(2))
        }
    }

    @Test(arguments: StoreBackend.available) func hostsAreListedInUuidOrder(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertHosts([host(3), host(1), host(2)])
            #expect(try await inventory.hosts() == [host(1), host(2), host(3)])
        }
    }

    @Test(arguments: StoreBackend.available) func statusUpdateReturnsThePreviousStatusAndPersists(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertHosts([host(1, status: .connecting)])
            #expect(try await inventory.updateHostStatus(uuid: hostUuid(1), to: .connected) == .connecting)
            #expect(try await inventory.updateHostStatus(uuid: hostUuid(1), to: .connected) == .connected)
            #expect(try await inventory.updateHostStatus(uuid: hostUuid(1), to: .disconnected) == .connected)
            let stored = try #require(try await inventory.host(uuid: hostUuid(1)))
            #expect(stored.status == .disconnected)
            #expect(stored.managementIp == host(1).managementIp)
        }
    }

    @Test(arguments: StoreBackend.available) func statusUpdateOfAnUnknownHostNamesIt(_ backend: StoreBackend) async throws {
        _ = try await backend.withStore { inventory async throws in
            await #expect(throws: InventoryError.notFound(entity: .host, uuid: hostUuid(9))) {
                try await inventory.updateHostStatus(uuid: hostUuid(9), to: .connected)
            }
        }
    }

    @Test(arguments: StoreBackend.available) func upsertWithOneInvalidHostStoresNone(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let error = await #expect(throws: InventoryError.self) {
                try await inventory.upsertHosts([host(1), host(2, port: 0)])
            }
            #expect(error.flatMap(problemLocations) == ["host.agentPort"])
            #expect(try await inventory.hosts().isEmpty)
        }
    }

    @Test func concurrentReadsDuringWritesSeeWholeRecords() async throws {
        try await withTemporaryDatabasePath { path in
            let inventory = try SQLiteInventory(path: path)
            try await inventory.upsertHosts((1...50).map { host($0) })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for round in 0..<20 {
                        let status: HostStatus = round.isMultiple(of: 2) ? .disconnected : .connected
                        try await inventory.upsertHosts((1...50).map { host($0, status: status) })
                    }
                }
                for number in 1...50 {
                    group.addTask {
                        for _ in 0..<10 {
                            let read = try #require(try await inventory.host(uuid: hostUuid(number)))
                            var expected = host(number)
                            expected.status = read.status
                            #expect(read == expected)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await inventory.hosts().allSatisfy { $0.status == .connected })
        }
    }
}
