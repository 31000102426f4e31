import Foundation
import Inventory
import Testing

@Suite("Inventory file import")
struct ImportTests {
    private let h1 = hostUuid(1)
    private let h2 = hostUuid(2)

    private func write(_ json: String, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("inventory.json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: StoreBackend.available)
    func exampleDocumentImportsAndReimportsAsUpdates(_ backend: StoreBackend) async throws {
        try await withTemporaryDirectory { directory in
            let path = try write(InventoryImport.exampleDocument, in: directory)
            try await backend.withStore { inventory async throws in
                let first = try await InventoryImport.importFile(atPath: path, into: inventory)
                #expect(first == InventoryImportSummary(hostsInserted: 1, vmsInserted: 2))
                let hosts = try await inventory.hosts()
                #expect(hosts == [HostRecord(
                    uuid: "5a1e0c9f3b2d4e6f8a7b6c5d4e3f2a1b", managementIp: "127.0.0.1", agentPort: 7070,
                    status: .connected, clusterUuid: "c0ffee00c0ffee00c0ffee00c0ffee00", name: "kvm-demo-1")])
                let expected = try await inventory.expectedVms(onHost: "5a1e0c9f3b2d4e6f8a7b6c5d4e3f2a1b")
                #expect(expected.map(\.state) == [.running, .stopped])
                let again = try await InventoryImport.importFile(atPath: path, into: inventory)
                #expect(again == InventoryImportSummary(hostsUpdated: 1, vmsUpdated: 2))
                #expect(again.description == "imported 1 host(s) (0 new, 1 updated) and 2 VM(s) (0 new, 2 updated)")
            }
        }
    }

    /// The demo file `make run` imports must stay valid as the import rules evolve.
    @Test(arguments: StoreBackend.available)
    func repositoryDemoInventoryImports(_ backend: StoreBackend) async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/demo-inventory.json").path
        try await backend.withStore { inventory async throws in
            let summary = try await InventoryImport.importFile(atPath: path, into: inventory)
            #expect(summary.hostsInserted > 0 && summary.hostsUpdated == 0 && summary.vmsUpdated == 0)
            #expect(try await inventory.hosts().count == summary.hostsInserted)
        }
    }

    @Test func defaultsApplyAndNullMeansAbsent() throws {
        let batch = try InventoryImport.batch(fromJSON: Data("""
            {"hosts": [{"uuid": "\(h1)", "managementIp": "kvm-1.example", "status": "Connecting", "clusterUuid": null}],
             "vms": [{"uuid": "\(vmUuid(1))", "state": "VolumeRecovering", "hostUuid": null, "lastHostUuid": "\(h1)"}]}
            """.utf8))
        #expect(batch.hosts == [HostRecord(uuid: h1, managementIp: "kvm-1.example", agentPort: 7070, status: .connecting)])
        #expect(batch.vms == [VmRecord(uuid: vmUuid(1), state: .volumeRecovering, lastHostUuid: h1, type: .userVm)])
    }

    @Test(arguments: StoreBackend.available) func emptyDocumentImportsNothing(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let batch = try InventoryImport.batch(fromJSON: Data("{}".utf8))
            #expect(try await inventory.importBatch(batch) == InventoryImportSummary())
        }
    }

    @Test(arguments: StoreBackend.available) func vmMayReferToAHostAlreadyStored(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertHosts([host(1)])
            let batch = try InventoryImport.batch(fromJSON: Data("""
                {"vms": [{"uuid": "\(vmUuid(1))", "state": "Running", "hostUuid": "\(h1)", "type": "ApplianceVm"}]}
                """.utf8))
            #expect(try await inventory.importBatch(batch) == InventoryImportSummary(vmsInserted: 1))
            #expect(try await inventory.vm(uuid: vmUuid(1))?.type == .applianceVm)
        }
    }

    /// One invalid entry among valid ones: the error names the entry and field, and nothing of the file is
    /// stored, while what the store held before is untouched.
    struct InvalidCase: Sendable, CustomTestStringConvertible {
        var name: String
        var hosts: String
        var vms: String
        var location: String
        var testDescription: String { name }
    }

    static let validHost = #"{"uuid": "a0000000000000000000000000000001", "managementIp": "127.0.0.1", "status": "Connected"}"#
    static let validVm = #"{"uuid": "b0000000000000000000000000000001", "state": "Running", "hostUuid": "a0000000000000000000000000000001"}"#

    static func hostCase(_ name: String, _ entry: String, _ field: String) -> InvalidCase {
        InvalidCase(name: name, hosts: "\(validHost), \(entry)", vms: validVm, location: "hosts[1]\(field)")
    }

    static func vmCase(_ name: String, _ entry: String, _ field: String) -> InvalidCase {
        InvalidCase(name: name, hosts: validHost, vms: "\(validVm), \(entry)", location: "vms[1]\(field)")
    }

    static let invalidCases: [InvalidCase] = [
        hostCase("uppercase host uuid", #"{"uuid": "A0000000000000000000000000000002", "managementIp": "127.0.0.2", "status": "Connected"}"#, ".uuid"),
        hostCase("dashed host uuid", #"{"uuid": "a0000000-0000-0000-0000-000000000002", "managementIp": "127.0.0.2", "status": "Connected"}"#, ".uuid"),
        hostCase("missing host uuid", #"{"managementIp": "127.0.0.2", "status": "Connected"}"#, ".uuid"),
        hostCase("empty managementIp", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "", "status": "Connected"}"#, ".managementIp"),
        hostCase("missing managementIp", #"{"uuid": "a0000000000000000000000000000002", "status": "Connected"}"#, ".managementIp"),
        hostCase("URL as managementIp", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "http://127.0.0.2", "status": "Connected"}"#, ".managementIp"),
        hostCase("bad IPv4", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.256", "status": "Connected"}"#, ".managementIp"),
        hostCase("port zero", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.2", "agentPort": 0, "status": "Connected"}"#, ".agentPort"),
        hostCase("port 65536", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.2", "agentPort": 65536, "status": "Connected"}"#, ".agentPort"),
        hostCase("port as string", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.2", "agentPort": "7070", "status": "Connected"}"#, ".agentPort"),
        hostCase("unknown host status", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.2", "status": "Online"}"#, ".status"),
        hostCase("missing host status", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.2"}"#, ".status"),
        hostCase("bad clusterUuid", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.2", "status": "Connected", "clusterUuid": "c1"}"#, ".clusterUuid"),
        hostCase("unknown host field", #"{"uuid": "a0000000000000000000000000000002", "managementIp": "127.0.0.2", "status": "Connected", "port": 7070}"#, ".port"),
        hostCase("repeated host uuid", validHost, ".uuid"),
        hostCase("host entry not an object", #""a0000000000000000000000000000002""#, ""),
        vmCase("misspelled VM state", #"{"uuid": "b0000000000000000000000000000002", "state": "Runing"}"#, ".state"),
        vmCase("lowercase VM state", #"{"uuid": "b0000000000000000000000000000002", "state": "running"}"#, ".state"),
        vmCase("missing VM state", #"{"uuid": "b0000000000000000000000000000002"}"#, ".state"),
        vmCase("short VM uuid", #"{"uuid": "b002", "state": "Stopped"}"#, ".uuid"),
        vmCase("VM on an unknown host", #"{"uuid": "b0000000000000000000000000000002", "state": "Running", "hostUuid": "a0000000000000000000000000000009"}"#, ".hostUuid"),
        vmCase("VM last on an unknown host", #"{"uuid": "b0000000000000000000000000000002", "state": "Stopped", "lastHostUuid": "a0000000000000000000000000000009"}"#, ".lastHostUuid"),
        vmCase("misspelled hostUuid key", #"{"uuid": "b0000000000000000000000000000002", "state": "Running", "hostUUID": "a0000000000000000000000000000001"}"#, ".hostUUID"),
        vmCase("empty VM type", #"{"uuid": "b0000000000000000000000000000002", "state": "Running", "type": ""}"#, ".type"),
        vmCase("repeated VM uuid", validVm, ".uuid"),
    ]

    @Test(arguments: invalidCases, StoreBackend.available)
    func invalidEntryIsNamedAndNothingIsStored(_ invalid: InvalidCase, _ backend: StoreBackend) async throws {
        try await withTemporaryDirectory { directory in
            try await backend.withStore { inventory async throws in
                let before = host(7)
                try await inventory.upsertHosts([before])
                let path = try write(#"{"hosts": [\#(invalid.hosts)], "vms": [\#(invalid.vms)]}"#, in: directory)
                let error = await #expect(throws: InventoryError.self) {
                    try await InventoryImport.importFile(atPath: path, into: inventory)
                }
                #expect(error.flatMap(problemLocations) == [invalid.location], "\(String(describing: error))")
                #expect(try await inventory.hosts() == [before])
                #expect(try await inventory.vm(uuid: vmUuid(1)) == nil)
            }
        }
    }

    @Test func everyProblemIsReportedInFileOrder() throws {
        let error = #expect(throws: InventoryError.self) {
            try InventoryImport.batch(fromJSON: Data("""
                {"hosts": [{"uuid": "x", "managementIp": " ", "agentPort": 70000, "status": "Connected"}],
                 "vms": [{"uuid": "\(vmUuid(1))", "state": "Off"}, {"uuid": "\(vmUuid(2))", "state": "Running", "hostUuid": "h"}]}
                """.utf8))
        }
        #expect(error.flatMap(problemLocations) == [
            "hosts[0].uuid", "hosts[0].managementIp", "hosts[0].agentPort", "vms[0].state", "vms[1].hostUuid",
        ])
        let text = try #require(error?.description)
        #expect(text.contains(#"vms[0].state: "Off" is not one of Created, Starting, Running"#), "\(text)")
    }

    @Test func entriesWithMistypedFieldsAreStillCheckedFieldByField() throws {
        let error = #expect(throws: InventoryError.self) {
            try InventoryImport.batch(fromJSON: Data("""
                {"hosts": [{"uuid": "A0000000000000000000000000000002", "managementIp": "127.0.0.1:7070",
                            "agentPort": "7070", "status": "Online"},
                           {"uuid": "\(h1)", "managementIp": "kvm-1", "agentPort": 0}],
                 "vms": [{"uuid": "\(vmUuid(1))", "state": "Runing"},
                         {"uuid": "\(vmUuid(1))", "state": "Running", "type": 3}]}
                """.utf8))
        }
        #expect(error.flatMap(problemLocations) == [
            "hosts[0].agentPort", "hosts[0].status", "hosts[0].uuid", "hosts[0].managementIp",
            "hosts[1].status", "hosts[1].agentPort",
            "vms[0].state", "vms[1].type", "vms[1].uuid",
        ])
    }

    @Test func syntaxErrorsSayWhere() throws {
        #expect {
            try InventoryImport.batch(fromJSON: Data("{\"hosts\": [\n  {\"uuid\": ,}]}".utf8), source: "x.json")
        } throws: { error in
            guard case InventoryError.unreadableFile("x.json", let reason) = error else { return false }
            return reason.contains("line 2, column 12")
        }
    }

    @Test(arguments: [
        ("not JSON", "{\"hosts\": ["),
        ("top level is a list", "[]"),
        ("hosts is an object", #"{"hosts": {}}"#),
        ("unknown top-level key", #"{"hosts": [], "vm": []}"#),
    ])
    func malformedDocumentIsUnreadable(_ name: String, _ json: String) throws {
        #expect {
            try InventoryImport.batch(fromJSON: Data(json.utf8), source: "demo.json")
        } throws: { error in
            guard case InventoryError.unreadableFile(let path, _) = error else { return false }
            return path == "demo.json"
        }
    }

    @Test(arguments: StoreBackend.available) func missingFileIsUnreadableAndNamed(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let path = "/nonexistent-\(UUID().uuidString).json"
            await #expect {
                try await InventoryImport.importFile(atPath: path, into: inventory)
            } throws: { error in
                guard case InventoryError.unreadableFile(let failedPath, _) = error else { return false }
                return failedPath == path
            }
        }
    }

    @Test(arguments: StoreBackend.available) func batchWithAnInvalidRecordLeavesTheStoreUntouched(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertHosts([host(1)])
            let batch = InventoryBatch(
                hosts: [host(1, status: .disconnected), host(2)],
                vms: [VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h2), VmRecord(uuid: "bad", state: .running)])
            let error = await #expect(throws: InventoryError.self) { try await inventory.importBatch(batch) }
            #expect(error.flatMap(problemLocations) == ["vms[1].uuid"])
            #expect(try await inventory.hosts() == [host(1)])
            #expect(try await inventory.vm(uuid: vmUuid(1)) == nil)
        }
    }
}
