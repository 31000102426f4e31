import AgentHTTP
import CloudBus
import CloudBusTesting
import Inventory
import Logging
import Testing
import ZBS
import ZBSMessages

/// Which executor key orders each ZBS message: operations on one volume (and its snapshots) share a key, so they
/// never interleave; storage-wide operations key on the storage.
@Suite("ZBS handler keys and replies")
struct HandlerKeyTests {
    static let storage = "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b"

    @Test func volumeAndSnapshotOperationsOnOneVolumeShareAKey() async throws {
        let inventory = try SQLiteInventory.inMemory()
        try await PeerlessCalls.withCalls(inventory) { calls in
            let keys = [
                GetVolumeClientsHandler(calls: calls).resourceKey(
                    for: GetVolumeClientsMsg(primaryStorageUuid: Self.storage, installPath: "zbs://lp/vol1")),
                DeleteVolumeHandler(calls: calls).resourceKey(
                    for: DeleteVolumeMsg(primaryStorageUuid: Self.storage, installPath: "zbs://lp/vol1")),
                ExpandVolumeHandler(calls: calls).resourceKey(
                    for: ExpandVolumeMsg(primaryStorageUuid: Self.storage, installPath: "zbs://lp/vol1", size: 1)),
                RollbackVolumeSnapshotHandler(calls: calls).resourceKey(
                    for: RollbackVolumeSnapshotMsg(primaryStorageUuid: Self.storage, installPath: "zbs://lp/vol1@s")),
                DeleteVolumeSnapshotHandler(calls: calls).resourceKey(
                    for: DeleteVolumeSnapshotMsg(primaryStorageUuid: Self.storage, installPath: "zbs://lp/vol1@t")),
                CreateVolumeHandler(calls: calls).resourceKey(
                    for: CreateVolumeMsg(primaryStorageUuid: Self.storage, logicalPool: "lp", volumeName: "vol1")),
                CreateVolumeSnapshotsHandler(calls: calls).resourceKey(
                    for: CreateVolumeSnapshotsMsg(
                        primaryStorageUuid: Self.storage, snapshotName: "s",
                        volumes: [ZbsSnapshotJob(volumeUuid: "v", installPath: "zbs://lp/vol1", vmInstanceUuid: "vm")])),
            ]
            #expect(Set(keys) == ["zbs-volume:zbs://lp/vol1"])
            let other = QueryVolumeHandler(calls: calls).resourceKey(
                for: QueryVolumeMsg(primaryStorageUuid: Self.storage, installPath: "zbs://lp/vol2"))
            #expect(other != keys[0], "another volume runs in parallel")
            let capacity = GetZbsCapacityHandler(calls: calls).resourceKey(
                for: GetZbsCapacityMsg(primaryStorageUuid: Self.storage))
            #expect(capacity == "zbs-storage:\(Self.storage)")
        }
    }

    @Test func anUnknownStorageOrABadPathIsABadRequestAndAnUnknownPoolAFailedReply() async throws {
        let inventory = try SQLiteInventory.inMemory()
        try await inventory.upsertZbsPrimaryStorages([ZbsPrimaryStorageRecord(
            uuid: Self.storage, mds: [MdsRecord(addr: "127.0.0.1", status: .connected, agentPort: 9)],
            logicalPools: [ZbsLogicalPool(logicalPoolName: "lp", physicalPoolName: "pp")])])
        try await PeerlessCalls.withCalls(inventory) { calls in
            let handler = QueryVolumeHandler(calls: calls)
            let context = HandlerContext(base: MessageBase(createdTime: 0), deadline: nil, redelivered: false)
            await #expect(throws: BadRequest.self) {
                _ = try await handler.handle(
                    QueryVolumeMsg(primaryStorageUuid: "0000000000000000000000000000000f", installPath: "zbs://lp/v"),
                    context: context)
            }
            await #expect(throws: BadRequest.self) {
                _ = try await handler.handle(
                    QueryVolumeMsg(primaryStorageUuid: Self.storage, installPath: "cbd:pp/lp/v"), context: context)
            }
            let output = try await handler.handle(
                QueryVolumeMsg(primaryStorageUuid: Self.storage, installPath: "zbs://nopool/v"), context: context)
            let reply = try #require(output.reply as? QueryVolumeReply)
            #expect(!reply.success)
            #expect(reply.error?.details?.contains("cannot find physical pool of logical pool[nopool]") == true)
        }
    }
}

/// ZBS calls over a store, with a callback server but no MDS peer (for tests that never reach an MDS).
enum PeerlessCalls {
    static func withCalls(_ inventory: SQLiteInventory, _ body: (ZbsStorageCalls) async throws -> Void) async throws {
        let server = try await CallbackServer.start(logger: Logger.quiet)
        let calls = ZbsStorageCalls(
            storages: inventory,
            caller: MdsCaller(caller: AgentCaller(client: AgentHTTPClient(), callbackServer: server)))
        do {
            try await body(calls)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }
}
