import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import Primitives
import Testing
import Worker

/// ZBS primary-storage messages end to end: real AMQP requests on `storage.primary.<node>`, the worker calling fake
/// MDS agents on loopback (sync and async protocols), replies on the bus.
@Suite("ZBS storage messages through the broker", .enabled(if: TestBroker.available))
struct ZBSStorageTests {
    static let storageUuid = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a"

    /// A worker serving `storage.primary` with short MDS attempts, for the duration of `body`.
    private static func withStorageWorker<T>(_ body: (WorkerHarness) async throws -> T) async throws -> T {
        try await withWorker(configure: { configuration in
            configuration.services = [ServiceID.hostService, ServiceID.primaryStorageService]
            configuration.zbs.mdsAttemptTimeoutSeconds = 2
            configuration.zbs.mdsConnectTimeoutSeconds = 1
        }, body)
    }

    private static func storageService(_ harness: WorkerHarness) -> String {
        "\(ServiceID.primaryStorageService).\(harness.node.rawValue)"
    }

    /// Stores the storage through the bus (UpdateZbsPrimaryStorageMsg), MDS on 127.0.0.1 at `ports`.
    private static func update(_ harness: WorkerHarness, ports: [Int], statuses: [String]? = nil) async throws -> RPCReply {
        let mds: [JSONValue] = ports.enumerated().map { index, port in
            ["addr": "127.0.0.1", "status": .string(statuses?[index] ?? "Connected"), "agentPort": .integer(Int64(port))]
        }
        return try await harness.call(
            "cloudbus.worker.UpdateZbsPrimaryStorageMsg",
            ["primaryStorage": ["uuid": .string(storageUuid), "mds": .array(mds),
                                "logicalPools": [["logicalPoolName": "lp", "physicalPoolName": "pp"]]]],
            service: storageService(harness))
    }

    @Test("update then GetVolumeClients: the refusing first MDS is skipped, the second answers (scenario 2)")
    func volumeClientsTryNext() async throws {
        let refusing = try await ClosedLoopbackPort.make()
        try await FakeMDSAgent.withRunning(configuration: .init(physicalPools: ["lp": "pp"])) { mds in
            mds.setClients([.init(ip: "192.0.2.20", port: 1)], for: "cbd:pp/lp/vol1")
            try await Self.withStorageWorker { harness in
                let updated = try await Self.update(harness, ports: [refusing.port, mds.port])
                #expect(updated.success, "\(String(decoding: updated.raw, as: UTF8.self))")
                #expect(try await harness.inventory.zbsPrimaryStorage(uuid: Self.storageUuid)?.mds.count == 2)

                // Whatever the shuffle draws first, the call ends on the live MDS.
                for _ in 0..<3 {
                    let reply = try await harness.call(
                        "cloudbus.worker.zbs.GetVolumeClientsMsg",
                        ["primaryStorageUuid": .string(Self.storageUuid), "installPath": "zbs://lp/vol1"],
                        service: Self.storageService(harness))
                    #expect(reply.className == "cloudbus.worker.zbs.GetVolumeClientsReply")
                    #expect(reply.success, "\(String(decoding: reply.raw, as: UTF8.self))")
                    #expect(reply.fields["clients"]?[0]?["ip"]?.stringValue == "192.0.2.20")
                }
                let requests = mds.receivedRequests(path: "/volume/clients")
                #expect(requests.count == 3)
                #expect(requests.allSatisfy { $0.string("uuid") == Self.storageUuid && $0.string("addr") == "127.0.0.1" })
            }
        }
    }

    @Test("anti-split-brain through the bus: another host's client rejects the start, naming it (scenario 17)")
    func splitBrain() async throws {
        try await FakeMDSAgent.withRunning(configuration: .init(physicalPools: ["lp": "pp"])) { mds in
            mds.setClients([.init(ip: "192.0.2.99")], for: "cbd:pp/lp/root")
            try await Self.withStorageWorker { harness in
                #expect(try await Self.update(harness, ports: [mds.port]).success)
                let volumes: JSONValue = [["volumeUuid": "0123456789abcdef0123456789abcdef",
                                           "primaryStorageUuid": .string(Self.storageUuid), "installPath": "zbs://lp/root"]]
                let rejected = try await harness.call(
                    "cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmMsg",
                    ["vmInstanceUuid": "fedcba9876543210fedcba9876543210", "destinationHostIp": "192.0.2.1", "volumes": volumes],
                    service: Self.storageService(harness))
                #expect(rejected.className == "cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmReply")
                #expect(!rejected.success)
                #expect(rejected.errorCode == "SYS.1006")
                #expect(rejected.fields["error"]?["details"]?.stringValue
                    == "find active clients for volume[uuid:0123456789abcdef0123456789abcdef, installPath zbs://lp/root, client:192.0.2.99]")

                let allowed = try await harness.call(
                    "cloudbus.worker.zbs.CheckVolumeClientsBeforeStartVmMsg",
                    ["vmInstanceUuid": "fedcba9876543210fedcba9876543210", "destinationHostIp": "192.0.2.99", "volumes": volumes],
                    service: Self.storageService(harness))
                #expect(allowed.success)
            }
        }
    }

    @Test("batch snapshot with an unattached volume fails before any MDS call, in zh_CN (scenario 53)")
    func snapshotUnattached() async throws {
        try await FakeMDSAgent.withRunning(configuration: .init(physicalPools: ["lp": "pp"])) { mds in
            try await Self.withStorageWorker { harness in
                #expect(try await Self.update(harness, ports: [mds.port]).success)
                let reply = try await harness.call(
                    "cloudbus.worker.zbs.CreateVolumeSnapshotsMsg",
                    ["primaryStorageUuid": .string(Self.storageUuid), "snapshotName": "s1", "locale": "zh_CN",
                     "volumes": [["volumeUuid": "A", "installPath": "zbs://lp/a", "vmInstanceUuid": "vm1"],
                                 ["volumeUuid": "B", "installPath": "zbs://lp/b"]]],
                    service: Self.storageService(harness))
                #expect(!reply.success)
                #expect(reply.fields["error"]?["details"]?.stringValue == "无法为云盘[A, B]创建快照：云盘[uuid:B]未挂载到任何云主机")
                #expect(mds.receivedRequests.isEmpty)

                let taken = try await harness.call(
                    "cloudbus.worker.zbs.CreateVolumeSnapshotsMsg",
                    ["primaryStorageUuid": .string(Self.storageUuid), "snapshotName": "s1",
                     "volumes": [["volumeUuid": "A", "installPath": "zbs://lp/a", "vmInstanceUuid": "vm1"]]],
                    service: Self.storageService(harness))
                #expect(taken.success)
                #expect(taken.fields["snapshots"]?[0]?["installPath"]?.stringValue == "zbs://lp/a@s1")
            }
        }
    }

    @Test("all MDS failing: capacity answers the aggregate error; a bad update is SYS.1007 and stores nothing")
    func failures() async throws {
        let first = try await ClosedLoopbackPort.make()
        let second = try await ClosedLoopbackPort.make()
        try await Self.withStorageWorker { harness in
            #expect(try await Self.update(harness, ports: [first.port, second.port]).success)
            let reply = try await harness.call(
                "cloudbus.worker.zbs.GetCapacityMsg", ["primaryStorageUuid": .string(Self.storageUuid)],
                service: Self.storageService(harness))
            #expect(reply.className == "cloudbus.worker.zbs.GetCapacityReply")
            #expect(reply.errorCode == "SYS.1006")
            #expect(reply.fields["error"]?["details"]?.stringValue == "all MDS cannot execute http call[/zbs/primarystorage/capacity]")
            #expect(reply.fields["error"]?["causes"]?.arrayValue?.count == 2)

            let bad = try await Self.update(harness, ports: [first.port], statuses: ["Online"])
            #expect(bad.errorCode == "SYS.1007")
            #expect(try await harness.inventory.zbsPrimaryStorage(uuid: Self.storageUuid)?.mds.count == 2)
        }
    }
}

/// The failure memory through the worker: after one call paid for a dead MDS, the following calls avoid it.
@Suite("ZBS failure memory through the broker", .enabled(if: TestBroker.available))
struct ZBSFailureMemoryTests {
    @Test func aSilentMdsIsContactedAtMostOnceAcrossCalls() async throws {
        let silent = try await SilentLoopbackListener.start()
        try await FakeMDSAgent.withRunning(configuration: .init(physicalPools: ["lp": "pp"])) { mds in
            try await withWorker(configure: { configuration in
                configuration.services = [ServiceID.hostService, ServiceID.primaryStorageService]
                configuration.zbs.mdsAttemptTimeoutSeconds = 1
                configuration.zbs.mdsFailureMemorySeconds = 600
            }) { harness in
                let service = "\(ServiceID.primaryStorageService).\(harness.node.rawValue)"
                let mdsList: JSONValue = [
                    ["addr": "127.0.0.1", "status": "Connected", "agentPort": .integer(Int64(silent.port))],
                    ["addr": "127.0.0.1", "status": "Connected", "agentPort": .integer(Int64(mds.port))],
                ]
                let updated = try await harness.call(
                    "cloudbus.worker.UpdateZbsPrimaryStorageMsg",
                    ["primaryStorage": ["uuid": .string(ZBSStorageTests.storageUuid), "mds": mdsList,
                                        "logicalPools": [["logicalPoolName": "lp", "physicalPoolName": "pp"]]]],
                    service: service)
                #expect(updated.success)
                for _ in 0..<8 {
                    let reply = try await harness.call(
                        "cloudbus.worker.zbs.GetVolumeClientsMsg",
                        ["primaryStorageUuid": .string(ZBSStorageTests.storageUuid), "installPath": "zbs://lp/vol1"],
                        service: service)
                    #expect(reply.success, "\(String(decoding: reply.raw, as: UTF8.self))")
                }
                // Without the memory, each of the 8 calls draws the silent MDS first with probability 1/2.
                #expect(silent.acceptedCount <= 1)
                #expect(mds.receivedRequests(path: "/volume/clients").count == 8)
            }
        }
        await silent.close()
    }
}
