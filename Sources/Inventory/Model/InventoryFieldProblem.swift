/// One field of one record that cannot be stored, with where it came from and why.
///
/// `description` reads like `vms[3].state: "Runing" is not ...`, so an operator can find the entry in the file;
/// without an index (records handed to a store directly) it reads `vm.state: ...`.
public struct InventoryFieldProblem: Sendable, Hashable, CustomStringConvertible {
    public var entity: InventoryEntity
    /// Position of the entry in its list of the inventory file, when the record came from one.
    public var index: Int?
    public var field: String
    /// The offending value as written (empty when the field is missing).
    public var value: String
    public var reason: String

    public init(entity: InventoryEntity, index: Int?, field: String, value: String, reason: String) {
        self.entity = entity
        self.index = index
        self.field = field
        self.value = value
        self.reason = reason
    }

    /// Where the field is: `hosts[2].agentPort` for an entry of a file, `host.agentPort` otherwise; the entry
    /// alone (`hosts[2]`) when the problem is the whole entry (`field` empty).
    public var location: String {
        let entry = index.map { "\(entity.listKey)[\($0)]" } ?? entity.rawValue
        return field.isEmpty ? entry : "\(entry).\(field)"
    }

    public var description: String {
        value.isEmpty ? "\(location): \(reason)" : "\(location): \"\(value)\" \(reason)"
    }
}
