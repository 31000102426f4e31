import CloudBus
import CloudBusTesting
import Inventory
import Primitives
import Testing
import ZBS
import ZBSMessages

/// Root volume size, the snapshot message, install paths, and scenario 54 of zstack-kvm-domain.md.
@Suite("ZBS storage rules")
struct StorageRulesTests {
    static let gib: Int64 = 1 << 30

    @Test("scenario 52: root volume size is max(virtual, actual) without an offering, the offering's size with one")
    func scenario52() {
        #expect(RootVolumeSize.allocation(imageSize: 10 * Self.gib, imageActualSize: 12 * Self.gib, offeringSize: nil)
            == 12 * Self.gib)
        #expect(RootVolumeSize.allocation(imageSize: 10 * Self.gib, imageActualSize: 5 * Self.gib, offeringSize: nil)
            == 10 * Self.gib)
        #expect(RootVolumeSize.allocation(imageSize: 10 * Self.gib, imageActualSize: nil, offeringSize: nil)
            == 10 * Self.gib)
        #expect(RootVolumeSize.allocation(imageSize: 10 * Self.gib, imageActualSize: 12 * Self.gib, offeringSize: 20 * Self.gib)
            == 20 * Self.gib)
    }

    @Test("scenario 52: CreateVolumeMsg picks size, else offering, else the image rule")
    func scenario52Message() {
        func size(_ message: CreateVolumeMsg) -> Int64? { CreateVolumeHandler.allocationSize(message) }
        let base = CreateVolumeMsg(primaryStorageUuid: "p", logicalPool: "lp", volumeName: "v")
        var message = base
        message.imageSize = 10 * Self.gib
        message.imageActualSize = 12 * Self.gib
        #expect(size(message) == 12 * Self.gib)
        message.rootDiskOfferingSize = 20 * Self.gib
        #expect(size(message) == 20 * Self.gib)
        message.size = 1
        #expect(size(message) == 1)
        #expect(size(base) == nil)
    }

    @Test("scenario 53: batch snapshot with an unattached volume: new wording, both arguments, en and zh")
    func scenario53() {
        let volumes: [(volumeUuid: String, vmInstanceUuid: String?)] = [("A", "vm1"), ("B", nil)]
        #expect(throws: SnapshotAttachmentCheck.NotAttached.self) {
            try SnapshotAttachmentCheck.check(volumes, locale: .en_US)
        }
        let en = SnapshotAttachmentCheck.NotAttached(batchVolumeUuids: ["A", "B"], volumeUuid: "B", locale: .en_US)
        #expect(en.description == "cannot take snapshot for volumes[A, B]: volume[uuid:B] is not attached to any VM")
        let zh = SnapshotAttachmentCheck.NotAttached(batchVolumeUuids: ["A", "B"], volumeUuid: "B", locale: .zh_CN)
        #expect(zh.description == "无法为云盘[A, B]创建快照：云盘[uuid:B]未挂载到任何云主机")
        #expect(en.errorCode.code == SysError.operationError.code)
        do {
            try SnapshotAttachmentCheck.check(volumes, locale: .zh_CN)
        } catch {
            #expect(error == zh)
        }
        #expect(throws: Never.self) { try SnapshotAttachmentCheck.check([("A", "vm1"), ("B", "vm2")], locale: .en_US) }
    }

    @Test func installPathsConvertBothWays() throws {
        let path = try ZbsInstallPath(parsing: "zbs://lp/vol@snap")
        #expect(path.agentPath(physicalPool: "pp") == "cbd:pp/lp/vol@snap")
        #expect(path.volumePath.description == "zbs://lp/vol")
        #expect(ZbsInstallPath.fromAgent("cbd:pp/lp/vol@snap") == "zbs://lp/vol@snap")
        #expect(ZbsInstallPath.fromAgent("not-cbd") == "not-cbd")
        for bad in ["cbd:pp/lp/vol", "zbs://lp", "zbs:///vol", "zbs://lp/vol@", "zbs://lp/a/b"] {
            #expect(throws: MdsCallError.invalidInstallPath(bad)) { try ZbsInstallPath(parsing: bad) }
        }
    }

    @Test("scenario 54: timeout moves on only with try-next; other errors always; all fail aggregates; none Connected fails before HTTP")
    func scenario54() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.neverAnswer, for: "/volume/query")
            let withTryNext = try await fixture.call("/volume/query", tryNext: true, command: ["path": "cbd:pp/lp/v"])
            #expect(withTryNext.addr == "mds-b")
        }
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.neverAnswer, for: "/volume/query")
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.call("/volume/query", command: ["path": "cbd:pp/lp/v"])
            }
            #expect(error.errorCode.code == SysError.timeout.code)
            #expect(fixture.b.receivedRequests.isEmpty)
        }
        try await MdsFixture.with(peers: [.refusing, .refusing, .refusing]) { fixture in
            let error = try await MdsFixture.mdsError { _ = try await fixture.call("/volume/query") }
            #expect(error.errorCode.details == "all MDS cannot execute http call[/zbs/primarystorage/volume/query]")
            #expect(error.errorCode.causes?.count == 3)
        }
        try await MdsFixture.with(statuses: [.disconnected, .disconnected, .disconnected]) { fixture in
            let error = try await MdsFixture.mdsError { _ = try await fixture.call("/volume/query") }
            #expect(error == .noConnectedMds(primaryStorageUuid: MdsFixture.storageUuid))
            #expect(fixture.totalRequests == 0)
        }
    }
}
