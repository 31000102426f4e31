import Foundation
import Primitives

/// The codec's slow path: after the single-pass decode failed, read the body's structure (``JSONScanner``: no tree
/// is built, so a hostile body costs one linear scan), say exactly what is wrong with it, and recover the base fields
/// where the shape allows.
enum EnvelopeDiagnosis {
    static func classify(_ error: any Error, body: Data, registry: MessageRegistry) -> EnvelopeError {
        let members: [(key: String, value: Range<Int>)]
        do {
            try JSONScanner.validate(body)
            guard let object = try JSONScanner.members(ofObjectIn: body) else {
                return .notSingleKeyObject(detail: "the body is \(kindDescription(body, 0..<body.count))")
            }
            members = object
        } catch let syntaxError {
            return .malformedJSON(detail: syntaxError.description)
        }
        guard members.count == 1, let (className, innerRange) = members.first else {
            let names = Set(members.map(\.key)).sorted().prefix(5).map { "\"\($0.prefix(256))\"" }
            return .notSingleKeyObject(detail: "the body has \(members.count) members [\(names.joined(separator: ", "))]")
        }
        guard let inner = try? JSONScanner.members(ofObjectIn: body, range: innerRange) else {
            return .notSingleKeyObject(
                detail: "the value of \"\(className.prefix(256))\" is \(kindDescription(body, innerRange)), not an object")
        }
        let base = MessageBase(lenient: inner, in: body)
        guard registry.type(named: className) != nil else {
            return .unknownClass(name: className, base: base)
        }
        return classifyField(error, fields: { fields(inner, body) }, className: className, base: base)
    }

    /// The inner object's members as trees, `headers` left out: only for the rare error that needs to search them.
    private static func fields(_ inner: [(key: String, value: Range<Int>)], _ body: Data) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for (key, range) in inner where key != "headers" {
            fields[key] = try? JSONValue(parsing: JSONScanner.slice(body, range))
        }
        return fields
    }

    private static func kindDescription(_ body: Data, _ range: Range<Int>) -> String {
        switch JSONScanner.kind(of: body, range: range) {
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        case UInt8(ascii: "{"): "an object"
        default: "a number"
        }
    }

    private static func classifyField(
        _ error: any Error, fields: () -> [String: JSONValue], className: String, base: MessageBase
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
            if let (path, number) = firstNonInteger(in: fields()) {
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
}
