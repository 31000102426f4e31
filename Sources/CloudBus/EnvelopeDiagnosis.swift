import Foundation
import Primitives

/// The codec's slow path: after the single-pass decode failed, parse the body generically, say exactly what is
/// wrong with it, and recover the base fields where the shape allows.
enum EnvelopeDiagnosis {
    static func classify(_ error: any Error, body: Data, registry: MessageRegistry) -> EnvelopeError {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: body)
        } catch let parseError {
            return .malformedJSON(detail: describeSyntaxError(parseError))
        }
        guard case .object(let members) = root else {
            return .notSingleKeyObject(detail: "the body is \(root.kindDescription)")
        }
        guard members.count == 1, let (className, inner) = members.first else {
            let names = members.keys.sorted().prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
            return .notSingleKeyObject(detail: "the body has \(members.count) members [\(names)]")
        }
        guard case .object(let fields) = inner else {
            return .notSingleKeyObject(detail: "the value of \"\(className)\" is \(inner.kindDescription), not an object")
        }
        let base = MessageBase(lenient: fields)
        guard registry.type(named: className) != nil else {
            return .unknownClass(name: className, base: base)
        }
        return classifyField(error, fields: fields, className: className, base: base)
    }

    private static func classifyField(
        _ error: any Error, fields: [String: JSONValue], className: String, base: MessageBase
    ) -> EnvelopeError {
        guard let decodingError = error as? DecodingError else {
            return .mistypedField(path: "<root>", expected: "\(error)", className: className, base: base)
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            return .missingField(path: path(context.codingPath + [key]), className: className, base: base)
        case .valueNotFound(_, let context):
            return .missingField(path: path(context.codingPath), className: className, base: base)
        case .typeMismatch(let type, let context):
            return .mistypedField(
                path: path(context.codingPath), expected: jsonTypeName(type), className: className, base: base)
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            // Foundation reports a number that does not fit the field's integer type (1.5, 1e30) as "not valid
            // JSON" with no path, although the body parsed. Find the culprit ourselves.
            if let (path, number) = firstNonInteger(in: fields) {
                return .mistypedField(
                    path: path, expected: "an integer (found \(number))", className: className, base: base)
            }
            return .mistypedField(
                path: "<root>", expected: "a valid value (\(context.debugDescription))", className: className,
                base: base)
        case .dataCorrupted(let context):
            return .mistypedField(
                path: path(context.codingPath), expected: "a valid value (\(context.debugDescription))",
                className: className, base: base)
        @unknown default:
            return .mistypedField(path: "<root>", expected: "\(decodingError)", className: className, base: base)
        }
    }

    /// The first number that is not an exact `Int64`, preferring the base fields known to be integers.
    private static func firstNonInteger(in fields: [String: JSONValue]) -> (path: String, number: Double)? {
        for name in ["createdTime", "timeout", "messageDeadline"] {
            if case .double(let number)? = fields[name], Int64(exactly: number) == nil { return (name, number) }
        }
        return firstNonInteger(in: .object(fields), path: "")
    }

    private static func firstNonInteger(in value: JSONValue, path: String) -> (path: String, number: Double)? {
        switch value {
        case .double(let number) where Int64(exactly: number) == nil:
            return (path.isEmpty ? "<root>" : path, number)
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                let child = path.isEmpty ? key : "\(path).\(key)"
                if let found = firstNonInteger(in: member, path: child) { return found }
            }
            return nil
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = firstNonInteger(in: element, path: "\(path)[\(index)]") { return found }
            }
            return nil
        default:
            return nil
        }
    }

    /// `a.b[0].c`, relative to the inner object (the first coding-path element is the class-name key).
    private static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath.dropFirst() {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result.isEmpty ? "<root>" : result
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "string"
        case is Bool.Type: return "boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type, is UInt32.Type: return "integer"
        case is Double.Type, is Float.Type: return "number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Dictionary") { return "object" }
            if name.hasPrefix("Array") { return "array" }
            return name
        }
    }

    private static func describeSyntaxError(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            if let underlying = context.underlyingError { return "\(underlying)" }
            return context.debugDescription
        }
        return "\(error)"
    }
}

extension JSONValue {
    /// "an array", "a string", … for error messages.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
