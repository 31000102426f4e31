import Primitives

/// Reads one entry of the inventory file's optional `zbsPrimaryStorages` list:
///
/// ```json
/// {"uuid": "…32 hex…",
///  "mds": [{"addr": "192.0.2.11", "status": "Connected", "agentPort": 7763}],
///  "logicalPools": [{"logicalPoolName": "lp", "physicalPoolName": "pp"}]}
/// ```
///
/// `uuid` and `mds` (each with `addr` and `status`: Connecting, Connected, Disconnected) are required;
/// `agentPort` defaults to 7763; `logicalPools` may be absent. Unknown fields are problems, as elsewhere in the file.
enum ZbsPrimaryStorageEntry {
    static let fields: Set<String> = ["uuid", "mds", "logicalPools"]
    static let mdsFields: Set<String> = ["addr", "status", "agentPort"]
    static let poolFields: Set<String> = ["logicalPoolName", "physicalPoolName"]

    /// The record (nil when the entry is not an object) and every problem of the entry: parse problems first, then
    /// the record's rule problems for fields that parsed.
    static func parse(
        _ entry: JSONValue, index: Int
    ) -> (record: ZbsPrimaryStorageRecord?, problems: [InventoryFieldProblem]) {
        var reader = InventoryEntryReader(entity: .zbsPrimaryStorage, index: index, value: entry, knownFields: fields)
        guard reader.isObject, case .object(let object) = entry else { return (nil, reader.problems) }
        let uuid = reader.requiredString("uuid")
        var problems: [InventoryFieldProblem] = []
        func note(_ field: String, _ value: String, _ reason: String) {
            problems.append(InventoryFieldProblem(
                entity: .zbsPrimaryStorage, index: index, field: field, value: value, reason: reason))
        }
        var mds: [MdsRecord] = []
        switch object["mds"] {
        case .array(let entries)?:
            for (position, value) in entries.enumerated() {
                let prefix = "mds[\(position)]"
                guard case .object(let node) = value else {
                    note(prefix, value.shown, "must be a JSON object")
                    continue
                }
                for key in node.keys.sorted() where !mdsFields.contains(key) {
                    note("\(prefix).\(key)", "", "is not a known field (expected one of addr, agentPort, status)")
                }
                guard case .string(let addr)? = node["addr"] else {
                    note("\(prefix).addr", node["addr"]?.shown ?? "", "is required and must be a string")
                    continue
                }
                guard case .string(let text)? = node["status"], let status = MdsStatus(rawValue: text) else {
                    note("\(prefix).status", node["status"]?.shown ?? "",
                         "must be one of Connecting, Connected, Disconnected")
                    continue
                }
                var port = MdsRecord.defaultAgentPort
                switch node["agentPort"] {
                case nil, .null?: break
                case .integer(let value)?: port = Int(value)
                case let other?: note("\(prefix).agentPort", other.shown, "must be an integer")
                }
                mds.append(MdsRecord(addr: addr, status: status, agentPort: port))
            }
        case nil, .null?:
            note("mds", "", "is required")
        case let other?:
            note("mds", other.shown, "must be a list")
        }
        var pools: [ZbsLogicalPool] = []
        switch object["logicalPools"] {
        case .array(let entries)?:
            for (position, value) in entries.enumerated() {
                let prefix = "logicalPools[\(position)]"
                guard case .object(let pool) = value,
                    case .string(let logical)? = pool["logicalPoolName"],
                    case .string(let physical)? = pool["physicalPoolName"]
                else {
                    note(prefix, value.shown, "must be an object with string logicalPoolName and physicalPoolName")
                    continue
                }
                for key in pool.keys.sorted() where !poolFields.contains(key) {
                    note("\(prefix).\(key)", "", "is not a known field (expected logicalPoolName, physicalPoolName)")
                }
                pools.append(ZbsLogicalPool(logicalPoolName: logical, physicalPoolName: physical))
            }
        case nil, .null?:
            break
        case let other?:
            note("logicalPools", other.shown, "must be a list")
        }
        let record = ZbsPrimaryStorageRecord(uuid: uuid, mds: mds, logicalPools: pools)
        let parsed = reader.problems + problems
        let unparsed = Set(parsed.map(\.field))
        let rules = record.problems(index: index).filter { rule in
            !unparsed.contains(rule.field) && !(rule.field == "mds" && !problems.isEmpty)
        }
        return (record, parsed + rules)
    }
}
