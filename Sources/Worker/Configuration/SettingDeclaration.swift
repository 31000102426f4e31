import Foundation
import Primitives

/// One setting, declared once: its file key, environment variable, parser, default, secrecy and description. The
/// file reader, the environment reader, `config check` and the README table all read ``WorkerConfiguration/settings``,
/// so none of them can know a setting the others do not.
public struct SettingDeclaration: Sendable {
    /// Dotted key in the config file (`amqp.url`, `kvm.pingTimeoutSeconds`).
    public let key: String
    /// `CLOUDBUS_` + the key upper-snake-cased, except for the few variables older than this rule, whose names are
    /// kept (``WorkerConfiguration/legacyVariableNames``).
    public let environmentVariable: String
    /// The command-line flag that sets it, if any (`--amqp-url`); `flagNote` says which commands have it.
    public let flag: String?
    public let flagNote: String?
    /// What a valid value looks like ("a whole number from 1 to 65535").
    public let expected: String
    /// The default as the README shows it.
    public let defaultText: String
    /// Never printed, logged or echoed in an error.
    public let isSecret: Bool
    /// Changeable while the worker runs (`UpdateSettingMsg`, global-config events).
    public let isRuntime: Bool
    /// One line for the README table.
    public let summary: String
    /// A valid value other than the default, as the environment would give it (the tests set every variable to it).
    public let sample: String
    /// Settings of one group replace each other as a whole: a source of higher precedence that sets one member
    /// drops what a lower source set for any member (an environment password drops the file's password file).
    let group: String?
    /// The value of a command-line override, as text.
    let override: (@Sendable (WorkerConfiguration.Overrides) -> String?)?
    /// Parses `raw` (named `name` in errors) into the draft.
    let apply: @Sendable (inout ConfigurationDraft, RawSetting, _ name: String) throws -> Void
    /// The effective value as JSON (before redaction), read from the finished draft; `.null` when unset.
    let effective: @Sendable (ConfigurationDraft) -> JSONValue
    /// ``sample`` as the JSON a config file would hold, or nil if it does not parse (a test checks it does).
    public let sampleJSON: JSONValue?
    /// The value holds a URL whose password part must be hidden.
    let isURL: Bool

    /// The key's position in the file: its object ("" for the top level) and its name there.
    var fileObject: String { key.contains(".") ? String(key.split(separator: ".")[0]) : "" }
    var fileName: String { key.contains(".") ? String(key.split(separator: ".", maxSplits: 1)[1]) : key }

    /// `CLOUDBUS_` + `key` upper-snake-cased: dots and camel-case humps become underscores
    /// (`kvm.pingTimeoutSeconds` → `CLOUDBUS_KVM_PING_TIMEOUT_SECONDS`).
    public static func derivedVariable(for key: String) -> String {
        var name = "CLOUDBUS_"
        var previous: Character?
        for character in key {
            if character == "." {
                name.append("_")
            } else {
                if character.isUppercase, let previous, previous.isLowercase || previous.isNumber { name.append("_") }
                name.append(contentsOf: character.uppercased())
            }
            previous = character
        }
        return name
    }

    /// The value shown by `config check`: secrets as `<redacted>`, a URL's password as `<redacted>`.
    func shown(_ draft: ConfigurationDraft) -> JSONValue {
        let value = effective(draft)
        if isSecret { return value.isNull ? .null : .string(Redaction.marker) }
        guard isURL else { return value }
        switch value {
        case .string(let url): return .string(Redaction.hidingPassword(in: url))
        case .array(let urls): return .array(urls.map { $0.stringValue.map { .string(Redaction.hidingPassword(in: $0)) } ?? $0 })
        default: return value
        }
    }

    /// Declares a setting whose values `parser` reads.
    static func make<Value: Sendable>(
        _ key: String, _ parser: ValueParser<Value>, default defaultText: String, sample: String,
        variable: String? = nil, flag: String? = nil, flagNote: String? = nil,
        override: (@Sendable (WorkerConfiguration.Overrides) -> String?)? = nil,
        secret: Bool = false, runtime: Bool = false, url: Bool = false, group: String? = nil,
        _ summary: String,
        set: @escaping @Sendable (inout ConfigurationDraft, Value) -> Void,
        get: @escaping @Sendable (ConfigurationDraft) -> Value?
    ) -> SettingDeclaration {
        SettingDeclaration(
            key: key, environmentVariable: variable ?? derivedVariable(for: key), flag: flag, flagNote: flagNote,
            expected: parser.expected, defaultText: defaultText, isSecret: secret, isRuntime: runtime,
            summary: summary, sample: sample, group: group, override: override,
            apply: { draft, raw, name in
                let parsed: Value? = switch raw {
                case .text(let text): parser.fromText(text)
                case .json(let json): parser.fromJSON(json)
                }
                guard let parsed else {
                    throw ConfigurationError.invalidValue(
                        name: name, value: "\(secret ? Redaction.marker : raw.shown) (expected \(parser.expected))")
                }
                set(&draft, parsed)
            },
            effective: { draft in get(draft).map(parser.toJSON) ?? .null },
            sampleJSON: parser.fromText(sample).map(parser.toJSON), isURL: url)
    }
}

/// How one type of setting is read from text (environment, flags) and from JSON (the file), and shown.
struct ValueParser<Value: Sendable>: Sendable {
    let expected: String
    let fromText: @Sendable (String) -> Value?
    let fromJSON: @Sendable (JSONValue) -> Value?
    let toJSON: @Sendable (Value) -> JSONValue

    /// Keeps the values `accept` allows; `expected` replaces the description.
    func checked(_ expected: String, _ accept: @escaping @Sendable (Value) -> Bool) -> ValueParser<Value> {
        let base = self
        return ValueParser(
            expected: expected, fromText: { base.fromText($0).flatMap { accept($0) ? $0 : nil } },
            fromJSON: { base.fromJSON($0).flatMap { accept($0) ? $0 : nil } }, toJSON: base.toJSON)
    }
}

extension ValueParser where Value == String {
    static var string: ValueParser<String> {
        ValueParser(expected: "a string", fromText: { $0 }, fromJSON: { $0.stringValue }, toJSON: { .string($0) })
    }
}

extension ValueParser where Value == Bool {
    static var bool: ValueParser<Bool> { ValueParser(
        expected: "true or false",
        fromText: { text in
            switch text.lowercased() {
            case "true", "1", "yes", "on": true
            case "false", "0", "no", "off": false
            default: nil
            }
        },
        fromJSON: { $0.boolValue }, toJSON: { .bool($0) }) }
}

extension ValueParser where Value == Int {
    /// A whole number in `range` (a JSON number with a fraction is refused).
    static func integer(_ range: ClosedRange<Int>) -> ValueParser<Int> {
        let expected = range.upperBound == Int.max
            ? "a whole number ≥ \(range.lowerBound)" : "a whole number from \(range.lowerBound) to \(range.upperBound)"
        return ValueParser(
            expected: expected,
            fromText: { Int($0.trimmingCharacters(in: .whitespaces)).flatMap { range.contains($0) ? $0 : nil } },
            fromJSON: { json in
                guard let number = json.int64Value, let value = Int(exactly: number), range.contains(value) else {
                    return nil
                }
                return value
            },
            toJSON: { .integer(Int64($0)) })
    }
}

extension ValueParser where Value == Double {
    /// A number of seconds above `lower` (or from it, when `inclusive`) up to `upper`.
    static func seconds(above lower: Double, inclusive: Bool = false, upTo upper: Double) -> ValueParser<Double> {
        let accept: @Sendable (Double) -> Bool = { ($0 > lower || (inclusive && $0 == lower)) && $0 <= upper && $0.isFinite }
        let bound = { (value: Double) in value == value.rounded() ? String(Int(value)) : String(value) }
        return ValueParser(
            expected: "seconds, \(inclusive ? "from" : "more than") \(bound(lower)) up to \(bound(upper))",
            fromText: { Double($0.trimmingCharacters(in: .whitespaces)).flatMap { accept($0) ? $0 : nil } },
            fromJSON: { $0.doubleValue.flatMap { accept($0) ? $0 : nil } },
            toJSON: { $0 == $0.rounded() && abs($0) < 1e15 ? .integer(Int64($0)) : .double($0) })
    }
}

extension ValueParser where Value == [String] {
    /// A JSON array of strings in the file, comma-separated text in the environment (blanks around items dropped).
    static func list(expected: String = "a list of strings (comma-separated in the environment)",
                     allowEmpty: Bool = true, item: @escaping @Sendable (String) -> Bool = { _ in true })
        -> ValueParser<[String]>
    {
        let accept: @Sendable ([String]) -> Bool = { (allowEmpty || !$0.isEmpty) && $0.allSatisfy(item) }
        return ValueParser(
            expected: expected,
            fromText: { text in
                let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                return accept(items) ? items : nil
            },
            fromJSON: { json in
                guard let array = json.arrayValue else { return nil }
                let items = array.compactMap(\.stringValue)
                return items.count == array.count && accept(items) ? items : nil
            },
            toJSON: { .array($0.map { .string($0) }) })
    }
}

extension ValueParser where Value: RawRepresentable & CaseIterable, Value.RawValue == String {
    /// One of an enumeration's raw values (`queueType`, `logFormat`).
    static func choice(_ type: Value.Type) -> ValueParser<Value> {
        ValueParser(
            expected: Value.allCases.map(\.rawValue).joined(separator: " or "),
            fromText: { Value(rawValue: $0) }, fromJSON: { $0.stringValue.flatMap(Value.init(rawValue:)) },
            toJSON: { .string($0.rawValue) })
    }
}

/// How secrets are hidden in what the worker prints.
public enum Redaction {
    /// What `config check` shows instead of a secret.
    public static let marker = "<redacted>"

    /// `amqp://user:secret@host/` → `amqp://user:<redacted>@host/`; a URL without a password is returned as it is.
    /// Works on text that does not parse as a URL too (only the authority part is looked at).
    public static func hidingPassword(in url: String) -> String {
        guard let schemeEnd = url.range(of: "://")?.upperBound else { return url }
        let rest = url[schemeEnd...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return url }
        return String(url[...colon]) + marker + String(url[at...])
    }
}
