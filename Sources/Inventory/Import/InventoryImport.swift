import Dispatch
import Foundation
import Primitives

/// Reads an inventory file and stores it all or nothing: what `cloudbus-worker inventory import FILE` runs.
///
/// The file is one JSON object with optional lists (`zbsPrimaryStorages`, described in `ZbsPrimaryStorageEntry`,
/// is the third):
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
/// defaults to 7070; `clusterUuid` and `name` may be absent or null. A VM may list its NICs,
/// `"nics": [{"uuid": "…32 hex…", "mac": "52:54:00:12:34:56"}]`, which then become its complete NIC list (a VM
/// without `nics` keeps the NICs stored for it). VMs: `uuid` and `state` (one of the 19 ZStack
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
            throw .unreadableFile(path: source, reason: "not valid JSON: \(syntaxError(in: data, decoding: error))")
        }
        guard case .object(let top) = document else {
            throw .unreadableFile(
                path: source, reason: "the top level must be an object with \"hosts\" and \"vms\" lists")
        }
        let topKeys: Set<String> = ["hosts", "vms", "zbsPrimaryStorages"]
        if let unknown = top.keys.sorted().first(where: { !topKeys.contains($0) }) {
            throw .unreadableFile(
                path: source,
                reason: "unknown top-level key \"\(unknown)\" (expected \"hosts\", \"vms\", \"zbsPrimaryStorages\")")
        }
        let hostEntries = try list("hosts", in: top, source: source)
        let vmEntries = try list("vms", in: top, source: source)

        // Problems are collected in file order, every problem of every entry: an entry with a mistyped field is
        // still checked field by field and for a repeated uuid, so one run of the import lists everything to fix.
        var problems: [InventoryFieldProblem] = []
        var batch = InventoryBatch()
        var seenHosts: [String: Int] = [:]
        for (index, entry) in hostEntries.enumerated() {
            let parsed = host(entry, index: index)
            problems += parsed.problems
            guard let host = parsed.record else { continue }
            if parsed.uuidIsValid,
                let repeated = InventoryBatch.repeatedUuid(.host, host.uuid, index: index, seen: &seenHosts)
            {
                problems.append(repeated)
            }
            batch.hosts.append(host)
        }
        var seenVms: [String: Int] = [:]
        for (index, entry) in vmEntries.enumerated() {
            let (parsed, nics) = vm(entry, index: index)
            problems += parsed.problems
            guard let vm = parsed.record else { continue }
            if let nics, parsed.uuidIsValid { batch.nics[vm.uuid] = nics }
            if parsed.uuidIsValid,
                let repeated = InventoryBatch.repeatedUuid(.vm, vm.uuid, index: index, seen: &seenVms)
            {
                problems.append(repeated)
            }
            batch.vms.append(vm)
        }
        var seenStorages: [String: Int] = [:]
        for (index, entry) in try list("zbsPrimaryStorages", in: top, source: source).enumerated() {
            let parsed = ZbsPrimaryStorageEntry.parse(entry, index: index)
            problems += parsed.problems
            guard let storage = parsed.record else { continue }
            if !parsed.problems.contains(where: { $0.field == "uuid" }),
                let repeated = InventoryBatch.repeatedUuid(
                    .zbsPrimaryStorage, storage.uuid, index: index, seen: &seenStorages)
            {
                problems.append(repeated)
            }
            batch.zbsPrimaryStorages.append(storage)
        }
        guard problems.isEmpty else { throw .invalidRecords(problems) }
        // Field rules passed entry by entry; what is left is across entries (a NIC uuid given to two VMs).
        let crossEntry = batch.nicProblems(vmIndexes: seenVms)
        guard crossEntry.isEmpty else { throw .invalidRecords(crossEntry) }
        return batch
    }

    private static let hostFields: Set<String> = ["uuid", "managementIp", "agentPort", "status", "clusterUuid", "name"]
    private static let vmFields: Set<String> = [
        "uuid", "state", "hostUuid", "lastHostUuid", "type", "clusterUuid", "nics",
    ]

    /// One entry read from the file: its problems (parse problems, then rule problems of the fields that parsed),
    /// the record when the entry is an object (fields that failed to parse hold placeholders), and whether its uuid
    /// is usable for the repeated-uuid check.
    private struct ParsedEntry<Record> {
        var record: Record?
        var problems: [InventoryFieldProblem]
        var uuidIsValid: Bool

        init(reader: InventoryEntryReader, record: Record?, ruleProblems: [InventoryFieldProblem]) {
            let unparsed = Set(reader.problems.map(\.field))
            self.problems = reader.problems + ruleProblems.filter { !unparsed.contains($0.field) }
            self.record = record
            self.uuidIsValid = !problems.contains { $0.field == "uuid" }
        }
    }

    private static func host(_ entry: JSONValue, index: Int) -> ParsedEntry<HostRecord> {
        var reader = InventoryEntryReader(entity: .host, index: index, value: entry, knownFields: hostFields)
        guard reader.isObject else { return ParsedEntry(reader: reader, record: nil, ruleProblems: []) }
        let record = HostRecord(
            uuid: reader.requiredString("uuid"),
            managementIp: reader.requiredString("managementIp"),
            agentPort: reader.integer("agentPort", default: HostRecord.defaultAgentPort),
            status: reader.required("status", as: HostStatus.self) ?? .connecting,
            clusterUuid: reader.optionalString("clusterUuid"),
            name: reader.optionalString("name"))
        return ParsedEntry(reader: reader, record: record, ruleProblems: record.problems(index: index))
    }

    private static func vm(_ entry: JSONValue, index: Int) -> (ParsedEntry<VmRecord>, [VmNicRecord]?) {
        var reader = InventoryEntryReader(entity: .vm, index: index, value: entry, knownFields: vmFields)
        guard reader.isObject else { return (ParsedEntry(reader: reader, record: nil, ruleProblems: []), nil) }
        let uuid = reader.requiredString("uuid")
        let record = VmRecord(
            uuid: uuid,
            state: reader.required("state", as: VmState.self) ?? .unknown,
            hostUuid: reader.optionalString("hostUuid"),
            lastHostUuid: reader.optionalString("lastHostUuid"),
            type: reader.optionalString("type").map(VmType.init(rawValue:)) ?? .userVm,
            clusterUuid: reader.optionalString("clusterUuid"))
        let nics = reader.nics(vmUuid: uuid)
        // NIC rule problems (uuid and MAC shapes) are checked with the whole batch (``InventoryBatch/problems()``),
        // which also catches NIC uuids repeated across VMs.
        let nicRules = (nics ?? []).enumerated().flatMap { $0.element.problems(index: index, nicIndex: $0.offset) }
            .filter { problem in !problem.field.hasSuffix(".vmUuid") }
        return (
            ParsedEntry(reader: reader, record: record, ruleProblems: record.problems(index: index) + nicRules),
            nics
        )
    }

    private static func list(
        _ key: String, in top: [String: JSONValue], source: String
    ) throws(InventoryError) -> [JSONValue] {
        switch top[key] {
        case nil, .null?: return []
        case .array(let entries)?: return entries
        case let other?: throw .unreadableFile(path: source, reason: "\"\(key)\" must be a list, got \(other.shown)")
        }
    }

    /// JSONDecoder only says "not valid JSON"; JSONSerialization says where ("around character 13"), which is
    /// turned into a line and column an operator can jump to.
    private static func syntaxError(in data: Data, decoding error: any Error) -> String {
        var detail = "\(error)"
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? detail
        }
        guard let match = detail.firstMatch(of: /character (\d+)/), let offset = Int(match.1), offset <= data.count
        else { return detail }
        let before = Array(data.prefix(offset))
        let line = before.count(where: { $0 == UInt8(ascii: "\n") }) + 1
        let column = offset - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
        return "\(detail) (line \(line), column \(column))"
    }
}
