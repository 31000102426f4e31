import Foundation
import Inventory

/// Deterministic ZStack-shaped uuids (32 lowercase hex digits): `uuid(1, kind: 0xa)` is
/// `a0000000000000000000000000000001`. The kind digit keeps hosts and VMs apart in failure output.
func uuid(_ number: Int, kind: Int) -> String {
    let hex = String(number, radix: 16)
    return String(kind, radix: 16) + String(repeating: "0", count: 31 - hex.count) + hex
}

func hostUuid(_ number: Int) -> String { uuid(number, kind: 0xa) }
func vmUuid(_ number: Int) -> String { uuid(number, kind: 0xb) }
func clusterUuid(_ number: Int) -> String { uuid(number, kind: 0xc) }

func host(_ number: Int, status: HostStatus = .connected, port: Int = 7070) -> HostRecord {
    HostRecord(
        uuid: hostUuid(number), managementIp: "127.0.0.\(number % 250 + 1)", agentPort: port, status: status,
        clusterUuid: clusterUuid(1), name: "kvm-\(number)")
}

/// A scratch directory removed when `body` ends, however it ends.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("inventory-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// The field locations (`vms[2].state`) of an `invalidRecords` error, or nil for any other error.
func problemLocations(_ error: any Error) -> [String]? {
    guard case InventoryError.invalidRecords(let problems) = error else { return nil }
    return problems.map(\.location)
}

/// The path of a database file in a scratch directory removed when `body` ends.
func withTemporaryDatabasePath<T>(_ body: (String) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { directory in
        try await body(directory.appendingPathComponent("inventory.sqlite").path)
    }
}
