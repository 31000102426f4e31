import Primitives

/// Reads the fields of one entry of an inventory file, noting every missing, mistyped or unknown field as an
/// ``InventoryFieldProblem`` that names the list, the entry index and the field.
struct InventoryEntryReader {
    let entity: InventoryEntity
    let index: Int
    /// False when the entry is not a JSON object; then `problems` says so and no field can be read.
    let isObject: Bool
    private let fields: [String: JSONValue]
    private(set) var problems: [InventoryFieldProblem] = []

    /// Notes the unknown fields of `value` at once; a non-object entry is noted as one problem.
    init(entity: InventoryEntity, index: Int, value: JSONValue, knownFields: Set<String>) {
        self.entity = entity
        self.index = index
        guard case .object(let fields) = value else {
            self.fields = [:]
            isObject = false
            problems.append(InventoryFieldProblem(
                entity: entity, index: index, field: "", value: value.shown, reason: "must be a JSON object"))
            return
        }
        self.fields = fields
        isObject = true
        for field in fields.keys.sorted() where !knownFields.contains(field) {
            note(field, "", "is not a known field (expected one of \(knownFields.sorted().joined(separator: ", ")))")
        }
    }

    mutating func note(_ field: String, _ value: String, _ reason: String) {
        problems.append(InventoryFieldProblem(entity: entity, index: index, field: field, value: value, reason: reason))
    }

    /// A required string; "" (and a noted problem) when missing or not a string.
    mutating func requiredString(_ field: String) -> String {
        switch fields[field] {
        case .string(let value)?: return value
        case nil, .null?: note(field, "", "is required")
        case let other?: note(field, other.shown, "must be a string")
        }
        return ""
    }

    /// An optional string; null and absent both mean nil.
    mutating func optionalString(_ field: String) -> String? {
        switch fields[field] {
        case .string(let value)?: return value
        case nil, .null?: return nil
        case let other?:
            note(field, other.shown, "must be a string or null")
            return nil
        }
    }

    /// An optional list; nil when absent or null (a non-list is noted and reads as nil).
    mutating func optionalList(_ field: String) -> [JSONValue]? {
        switch fields[field] {
        case .array(let entries)?: return entries
        case nil, .null?: return nil
        case let other?:
            note(field, other.shown, "must be a list or null")
            return nil
        }
    }

    /// The NICs of a VM entry (`nics: [{"uuid": …, "mac": …}]`), each noted as `nics[i].<field>`; nil when the
    /// entry gives no list. Entries that are not objects or lack a field are noted and left out.
    mutating func nics(vmUuid: String) -> [VmNicRecord]? {
        guard let entries = optionalList("nics") else { return nil }
        var nics: [VmNicRecord] = []
        for (position, entry) in entries.enumerated() {
            let prefix = "nics[\(position)]"
            guard case .object(let nicFields) = entry else {
                note(prefix, entry.shown, "must be a JSON object with uuid and mac")
                continue
            }
            for field in nicFields.keys.sorted() where field != "uuid" && field != "mac" {
                note("\(prefix).\(field)", "", "is not a known field (expected one of mac, uuid)")
            }
            var values: [String: String] = [:]
            for field in ["uuid", "mac"] {
                switch nicFields[field] {
                case .string(let value)?: values[field] = value
                case nil, .null?: note("\(prefix).\(field)", "", "is required")
                case let other?: note("\(prefix).\(field)", other.shown, "must be a string")
                }
            }
            if let uuid = values["uuid"], let mac = values["mac"] {
                nics.append(VmNicRecord(uuid: uuid, vmUuid: vmUuid, mac: mac))
            }
        }
        return nics
    }

    /// An optional integer; `fallback` when absent or null.
    mutating func integer(_ field: String, default fallback: Int) -> Int {
        switch fields[field] {
        case .integer(let value)?: return Int(value)
        case nil, .null?: return fallback
        case let other?:
            note(field, other.shown, "must be an integer")
            return fallback
        }
    }

    /// A required enumeration spelled by its raw value; nil (and a noted problem) when missing or unknown.
    mutating func required<Value: RawRepresentable & CaseIterable>(_ field: String, as _: Value.Type) -> Value?
    where Value.RawValue == String {
        guard case .string(let text)? = fields[field] else {
            _ = requiredString(field)
            return nil
        }
        if let value = Value(rawValue: text) { return value }
        note(field, text, "is not one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
        return nil
    }
}
