/// Everything the inventory can fail with, carrying what an operator needs to act: the entity and uuid, the field
/// and entry index, the file or database path and the underlying reason.
public enum InventoryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The store holds no `entity` with this uuid (for operations that need an existing row).
    case notFound(entity: InventoryEntity, uuid: String)
    /// Records (or entries of an inventory file) that break the inventory's rules. Nothing was stored.
    case invalidRecords([InventoryFieldProblem])
    /// An inventory file could not be read or is not the expected JSON; nothing was stored.
    case unreadableFile(path: String, reason: String)
    /// The database failed (cannot open, locked beyond the busy timeout, disk full, corrupt...). `operation` names
    /// what the store was doing (`host(uuid:)`, `migrate`), `path` the database file (nil for in-memory).
    case storage(operation: String, path: String?, reason: String)

    public var description: String {
        switch self {
        case .notFound(let entity, let uuid):
            return "no \(entity.rawValue) with uuid \(uuid) in the inventory"
        case .invalidRecords(let problems):
            let shown = problems.prefix(20).map { "  \($0)" }.joined(separator: "\n")
            let more = problems.count > 20 ? "\n  ... and \(problems.count - 20) more" : ""
            return "invalid inventory (\(problems.count) problem\(problems.count == 1 ? "" : "s"), nothing stored):\n"
                + shown + more
        case .unreadableFile(let path, let reason):
            return "cannot read inventory file \(path): \(reason)"
        case .storage(let operation, let path, let reason):
            return "inventory database \(path ?? ":memory:") failed during \(operation): \(reason)"
        }
    }
}
