import Dispatch
import Foundation

/// Reads an inventory file and stores it all or nothing: what `cloudbus-worker inventory import FILE` runs.
///
/// The file is one JSON object with two optional lists:
///
/// ```json
/// {
///   "hosts": [
///     {"uuid": "…32 hex…", "managementIp": "127.0.0.1", "agentPort": 7070, "status": "Connected",
///      "clusterUuid": "…", "name": "kvm-1"}
///   ],
///   "vms": [
///     {"uuid": "…32 hex…", "state": "Running", "hostUuid": "…", "lastHostUuid": "…", "type": "UserVm",
///      "clusterUuid": "…"}
///   ]
/// }
/// ```
///
/// Hosts: `uuid`, `managementIp` and `status` (Connecting, Connected, Disconnected) are required; `agentPort`
/// defaults to 7070; `clusterUuid` and `name` may be absent or null. VMs: `uuid` and `state` (one of the 19 ZStack
/// states, spelled as ZStack does) are required; `type` defaults to UserVm; `hostUuid`, `lastHostUuid` and
/// `clusterUuid` may be absent or null. Uuids are 32 lowercase hex digits; `managementIp` is an IPv4 or bare IPv6
/// literal or a host name; ports are 1...65535; a uuid may appear once per list; every `hostUuid` and
/// `lastHostUuid` must name a host of the file or one already stored; unknown fields are rejected (a misspelled
/// `hostUUID` would otherwise silently leave a VM without a host). ``exampleDocument`` is a complete example.
///
/// Every problem is reported, each naming its list, entry index and field (`vms[3].state: "Runing" is not one of
/// …`), as ``InventoryError/invalidRecords(_:)``; a file that is not such a JSON object at all is
/// ``InventoryError/unreadableFile(path:reason:)``. When anything is wrong nothing is stored. Entries that exist
/// already are replaced field by field (an upsert), all in one transaction.
public enum InventoryImport {
    /// A small valid inventory: one connected host on loopback and two VMs on it, one running and one stopped
    /// (stopped VMs keep their host in `lastHostUuid`).
    public static let exampleDocument = """
        {
          "hosts": [
            {"uuid": "5a1e0c9f3b2d4e6f8a7b6c5d4e3f2a1b", "managementIp": "127.0.0.1", "agentPort": 7070,
             "status": "Connected", "clusterUuid": "c0ffee00c0ffee00c0ffee00c0ffee00", "name": "kvm-demo-1"}
          ],
          "vms": [
            {"uuid": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", "state": "Running",
             "hostUuid": "5a1e0c9f3b2d4e6f8a7b6c5d4e3f2a1b", "type": "UserVm",
             "clusterUuid": "c0ffee00c0ffee00c0ffee00c0ffee00"},
            {"uuid": "1f2e3d4c5b6a79880796a5b4c3d2e1f0", "state": "Stopped",
             "lastHostUuid": "5a1e0c9f3b2d4e6f8a7b6c5d4e3f2a1b", "type": "UserVm"}
          ]
        }
        """

    /// Reads, validates and stores the inventory file at `path` in one transaction of `store`.
    ///
    /// The file is read on a dispatch queue, not on the caller's task executor.
    /// - Throws: ``InventoryError`` — `unreadableFile`, `invalidRecords` (nothing stored), or `storage`.
    public static func importFile(
        atPath path: String, into store: some InventoryBatchStore
    ) async throws -> InventoryImportSummary {
        let parsed = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<InventoryBatch, any Error>) in
            DispatchQueue.global().async {
                do {
                    continuation.resume(returning: try Self.batch(fromFileAtPath: path))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        return try await store.importBatch(parsed)
    }

    /// Reads and validates the inventory file at `path` without storing it. Blocks while reading.
    ///
    /// Host references to hosts not in the file cannot be checked without a store; ``importFile(atPath:into:)``
    /// checks them.
    public static func batch(fromFileAtPath path: String) throws(InventoryError) -> InventoryBatch {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadableFile(path: path, reason: (error as NSError).localizedDescription)
        }
        return try batch(fromJSON: data, source: path)
    }

    /// Parses and validates an inventory document. `source` names it in errors (a path, or `<stdin>`).
    public static func batch(fromJSON data: Data, source: String = "<data>") throws(InventoryError) -> InventoryBatch {
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw .unreadableFile(path: source, reason: "not valid JSON: \(reason(error))")
        }
        guard case .object(let top) = document else {
            throw .unreadableFile(path: source, reason: "the top level must be an object with \"hosts\" and \"vms\" lists")
        }
        if let unknown = top.keys.sorted().first(where: { $0 != "hosts" && $0 != "vms" }) {
            throw .unreadableFile(path: source, reason: "unknown top-level key \"\(unknown)\" (expected \"hosts\", \"vms\")")
        }
        let hostEntries = try list("hosts", in: top, source: source)
        let vmEntries = try list("vms", in: top, source: source)

        // Problems are collected in file order: hosts, then VMs, each entry's parse problems or, when it parsed,
        // its rule problems and a repeated uuid, indexed by position in the file.
        var problems: [InventoryFieldProblem] = []
        var batch = InventoryBatch()
        var seenHosts: [String: Int] = [:]
        for (index, entry) in hostEntries.enumerated() {
            let (host, found) = host(entry, index: index)
            problems += found
            guard let host else { continue }
            problems += host.problems(index: index)
            if let repeated = InventoryBatch.repeatedUuid(.host, host.uuid, index: index, seen: &seenHosts) {
                problems.append(repeated)
            }
            batch.hosts.append(host)
        }
        var seenVms: [String: Int] = [:]
        for (index, entry) in vmEntries.enumerated() {
            let (vm, found) = vm(entry, index: index)
            problems += found
            guard let vm else { continue }
            problems += vm.problems(index: index)
            if let repeated = InventoryBatch.repeatedUuid(.vm, vm.uuid, index: index, seen: &seenVms) {
                problems.append(repeated)
            }
            batch.vms.append(vm)
        }
        guard problems.isEmpty else { throw .invalidRecords(problems) }
        return batch
    }

    private static let hostFields: Set<String> = ["uuid", "managementIp", "agentPort", "status", "clusterUuid", "name"]
    private static let vmFields: Set<String> = ["uuid", "state", "hostUuid", "lastHostUuid", "type", "clusterUuid"]

    private static func host(_ entry: JSONValue, index: Int) -> (HostRecord?, [InventoryFieldProblem]) {
        var reader = InventoryEntryReader(entity: .host, index: index, value: entry, knownFields: hostFields)
        guard reader.isObject else { return (nil, reader.problems) }
        let uuid = reader.requiredString("uuid")
        let managementIp = reader.requiredString("managementIp")
        let agentPort = reader.integer("agentPort", default: HostRecord.defaultAgentPort)
        let status = reader.required("status", as: HostStatus.self)
        let clusterUuid = reader.optionalString("clusterUuid")
        let name = reader.optionalString("name")
        guard reader.problems.isEmpty, let status else { return (nil, reader.problems) }
        let record = HostRecord(
            uuid: uuid, managementIp: managementIp, agentPort: agentPort, status: status,
            clusterUuid: clusterUuid, name: name)
        return (record, [])
    }

    private static func vm(_ entry: JSONValue, index: Int) -> (VmRecord?, [InventoryFieldProblem]) {
        var reader = InventoryEntryReader(entity: .vm, index: index, value: entry, knownFields: vmFields)
        guard reader.isObject else { return (nil, reader.problems) }
        let uuid = reader.requiredString("uuid")
        let state = reader.required("state", as: VmState.self)
        let hostUuid = reader.optionalString("hostUuid")
        let lastHostUuid = reader.optionalString("lastHostUuid")
        let type = reader.optionalString("type").map(VmType.init(rawValue:)) ?? .userVm
        let clusterUuid = reader.optionalString("clusterUuid")
        guard reader.problems.isEmpty, let state else { return (nil, reader.problems) }
        let record = VmRecord(
            uuid: uuid, state: state, hostUuid: hostUuid, lastHostUuid: lastHostUuid, type: type,
            clusterUuid: clusterUuid)
        return (record, [])
    }

    private static func list(_ key: String, in top: [String: JSONValue], source: String) throws(InventoryError) -> [JSONValue] {
        switch top[key] {
        case nil, .null?: return []
        case .array(let entries)?: return entries
        case let other?: throw .unreadableFile(path: source, reason: "\"\(key)\" must be a list, got \(other.shown)")
        }
    }

    private static func reason(_ error: any Error) -> String {
        guard case DecodingError.dataCorrupted(let context) = error else { return String(describing: error) }
        if let underlying = context.underlyingError {
            return "\(context.debugDescription) \((underlying as NSError).localizedDescription)"
        }
        return context.debugDescription
    }
}
