import Primitives

extension JSONValue {
    /// How the value reads in an import error: strings as written, other kinds by their JSON text or kind.
    var shown: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .integer(let value): String(value)
        case .double(let value): String(value)
        case .string(let value): value
        case .array: "an array"
        case .object: "an object"
        }
    }
}
