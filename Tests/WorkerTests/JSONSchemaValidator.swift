import CloudBus
import Primitives

/// A deliberately small JSON Schema (draft 2020-12) validator for the files in `schemas/`.
///
/// It supports exactly the keywords those files use — `type`, `required`, `properties`, `additionalProperties`,
/// `items`, `enum`, `const`, `pattern`, `minLength`, `$ref` to `#/$defs/<name>` in the same document — plus the
/// annotations `$schema`, `title`, `description`, `examples`, `$defs`, `$comment`. Any other keyword is reported as
/// a violation, so a schema cannot silently rely on something this validator ignores.
struct JSONSchemaValidator {
    struct Violation: CustomStringConvertible, Equatable {
        /// JSON-pointer-like location in the instance, e.g. `/org.x.Msg/headers/noReply`.
        let instancePath: String
        let message: String
        var description: String { "\(instancePath.isEmpty ? "/" : instancePath): \(message)" }
    }

    let root: JSONValue

    private static let annotationKeywords: Set<String> = [
        "$schema", "title", "description", "examples", "$defs", "$comment",
    ]
    private static let validationKeywords: Set<String> = [
        "type", "required", "properties", "additionalProperties", "items", "enum", "const", "pattern",
        "minLength", "$ref",
    ]
    private static let maximumDepth = 64

    init(schema: JSONValue) {
        root = schema
    }

    /// Every violation of `instance` against the root schema; empty means valid.
    func validate(_ instance: JSONValue) -> [Violation] {
        var violations: [Violation] = []
        check(instance, against: root, at: "", depth: 0, into: &violations)
        return violations
    }

    private func check(
        _ instance: JSONValue, against schema: JSONValue, at path: String, depth: Int, into violations: inout [Violation]
    ) {
        guard depth < Self.maximumDepth else {
            violations.append(Violation(instancePath: path, message: "schema nesting deeper than \(Self.maximumDepth) (cyclic $ref?)"))
            return
        }
        switch schema {
        case .bool(true): return
        case .bool(false):
            violations.append(Violation(instancePath: path, message: "no value is allowed here (schema false)"))
            return
        case .object(let keywords):
            for (keyword, argument) in keywords {
                apply(keyword, argument, in: keywords, to: instance, at: path, depth: depth, into: &violations)
            }
        default:
            violations.append(Violation(instancePath: path, message: "schema is neither an object nor a boolean"))
        }
    }

    private func apply(
        _ keyword: String, _ argument: JSONValue, in keywords: [String: JSONValue], to instance: JSONValue,
        at path: String, depth: Int, into violations: inout [Violation]
    ) {
        func fail(_ message: String) { violations.append(Violation(instancePath: path, message: message)) }
        if Self.annotationKeywords.contains(keyword) { return }
        guard Self.validationKeywords.contains(keyword) else {
            fail("unsupported schema keyword '\(keyword)'")
            return
        }
        switch keyword {
        case "type":
            let names = argument.arrayValue?.compactMap(\.stringValue) ?? argument.stringValue.map { [$0] } ?? []
            guard !names.isEmpty else { return fail("'type' must be a string or an array of strings") }
            if !names.contains(where: { Self.matches(instance, type: $0) }) {
                fail("expected type \(names.joined(separator: " or ")), found \(Self.typeName(of: instance))")
            }
        case "required":
            guard let names = argument.arrayValue?.compactMap(\.stringValue) else {
                return fail("'required' must be an array of strings")
            }
            if case .object(let members) = instance {
                for name in names where members[name] == nil { fail("missing required member '\(name)'") }
            }
        case "properties":
            guard case .object(let propertySchemas) = argument else { return fail("'properties' must be an object") }
            if case .object(let members) = instance {
                for (name, subschema) in propertySchemas {
                    if let value = members[name] {
                        check(value, against: subschema, at: path + "/" + name, depth: depth + 1, into: &violations)
                    }
                }
            }
        case "additionalProperties":
            if case .object(let members) = instance {
                let named = keywords["properties"]?.objectValue ?? [:]
                for (name, value) in members where named[name] == nil {
                    if argument == .bool(false) {
                        fail("member '\(name)' is not allowed")
                    } else {
                        check(value, against: argument, at: path + "/" + name, depth: depth + 1, into: &violations)
                    }
                }
            }
        case "items":
            if case .array(let elements) = instance {
                for (index, element) in elements.enumerated() {
                    check(element, against: argument, at: path + "/\(index)", depth: depth + 1, into: &violations)
                }
            }
        case "enum":
            guard let allowed = argument.arrayValue else { return fail("'enum' must be an array") }
            if !allowed.contains(where: { Self.jsonEqual($0, instance) }) {
                fail("value \(Self.render(instance)) is not one of \(allowed.map(Self.render).joined(separator: ", "))")
            }
        case "const":
            if !Self.jsonEqual(argument, instance) {
                fail("value \(Self.render(instance)) is not the constant \(Self.render(argument))")
            }
        case "pattern":
            guard let source = argument.stringValue else { return fail("'pattern' must be a string") }
            guard let regex = try? Regex(source) else { return fail("'pattern' \(source) does not compile") }
            if case .string(let text) = instance, (try? regex.firstMatch(in: text)) == nil {
                fail("\"\(text)\" does not match pattern \(source)")
            }
        case "minLength":
            guard let minimum = argument.int64Value else { return fail("'minLength' must be an integer") }
            if case .string(let text) = instance, text.unicodeScalars.count < minimum {
                fail("string shorter than \(minimum) characters")
            }
        case "$ref":
            guard let reference = argument.stringValue else { return fail("'$ref' must be a string") }
            let prefix = "#/$defs/"
            guard reference.hasPrefix(prefix),
                let target = root["$defs"]?[String(reference.dropFirst(prefix.count))]
            else { return fail("unresolvable $ref \(reference) (only #/$defs/<name> in the same file)") }
            check(instance, against: target, at: path, depth: depth + 1, into: &violations)
        default:
            fail("unhandled keyword '\(keyword)'")
        }
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object):
            return true
        case ("number", .integer), ("number", .double), ("integer", .integer):
            return true
        case ("integer", .double(let number)):
            return number.rounded() == number
        default:
            return false
        }
    }

    private static func typeName(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// JSON Schema equality: numbers compare by value (1 == 1.0), containers element-wise.
    private static func jsonEqual(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.integer, .double), (.double, .integer): return lhs.doubleValue == rhs.doubleValue
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { jsonEqual($0, $1) }
        case (.object(let left), .object(let right)):
            return left.count == right.count
                && left.allSatisfy { key, value in right[key].map { jsonEqual(value, $0) } ?? false }
        default: return lhs == rhs
        }
    }

    private static func render(_ value: JSONValue) -> String {
        (try? value.jsonData()).flatMap { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
    }
}
