import Foundation
import Synchronization

/// A setting an operator may change while the worker runs (ZStack's global configs, such as
/// `kvm.orphanedVmSkipTimeout`): readers always see the latest accepted value, and a value the validator refuses
/// is never seen by anyone.
///
/// Readers call ``value`` at the moment they decide (never cache it), so a change applies to work already queued
/// and to state already recorded (an orphan's TTL is measured against the current timeout).
public final class LiveSetting<Value: Sendable>: Sendable {
    /// ZStack's `category.name`, e.g. `kvm.orphanedVmSkipTimeout`.
    public let name: String
    private let current: Mutex<Value>
    private let parse: @Sendable (String) -> Value?
    private let format: @Sendable (Value) -> String
    public let rule: String

    /// - Parameters:
    ///   - parse: turns the text form (what operators and ZStack's global-config events carry) into a valid value,
    ///     or nil when the text is not acceptable; it is also the validator.
    ///   - rule: what a valid value looks like, for the error an operator sees.
    ///   - format: the text form of a value (what an operator reads back).
    public init(name: String, initial: Value, rule: String, parse: @escaping @Sendable (String) -> Value?,
                format: @escaping @Sendable (Value) -> String = { "\($0)" }) {
        self.name = name
        self.current = Mutex(initial)
        self.parse = parse
        self.format = format
        self.rule = rule
    }

    public var value: Value { current.withLock { $0 } }

    /// The current value in the text form ``update(fromText:)`` accepts.
    public var text: String { format(value) }

    /// Sets a value directly (configuration at start, tests); no validation beyond the type.
    public func set(_ newValue: Value) { current.withLock { $0 = newValue } }

    /// Replaces the value if `text` is valid; returns the value it replaced.
    /// - Throws: ``InvalidSettingValue`` naming the setting, the text and the rule; the value is unchanged.
    @discardableResult
    public func update(fromText text: String) throws(InvalidSettingValue) -> Value {
        guard let parsed = parse(text) else { throw InvalidSettingValue(name: name, value: text, rule: rule) }
        return current.withLock { value in
            let old = value
            value = parsed
            return old
        }
    }
}

/// A refused setting change: what was asked and what would have been accepted.
public struct InvalidSettingValue: Error, Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let value: String
    public let rule: String

    public var description: String { "invalid value[\(value)] for \(name): \(rule)" }
}

extension LiveSetting where Value == Duration {
    /// A duration setting written in whole seconds (ZStack's unit for these configs), valid when > 0.
    public static func positiveSeconds(name: String, default seconds: Int64) -> LiveSetting<Duration> {
        LiveSetting(name: name, initial: .seconds(seconds), rule: "must be a whole number of seconds > 0",
                    parse: { text in
                        guard let value = Int64(text.trimmingCharacters(in: .whitespaces)), value > 0 else { return nil }
                        return .seconds(value)
                    },
                    format: { String($0.components.seconds) })
    }
}

extension LiveSetting where Value == Bool {
    /// A boolean setting written `true` or `false` (any case).
    public static func boolean(name: String, default initial: Bool) -> LiveSetting<Bool> {
        LiveSetting(name: name, initial: initial, rule: "must be true or false", parse: { text in
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true": true
            case "false": false
            default: nil
            }
        })
    }
}

/// Any live setting, by name and text form: what the worker's setting registry and the update message see.
public protocol NamedSetting: Sendable {
    var name: String { get }
    var text: String { get }
    var rule: String { get }
    /// Applies `text` and returns the previous text form.
    func apply(text: String) throws(InvalidSettingValue) -> String
}

extension LiveSetting: NamedSetting {
    public func apply(text newText: String) throws(InvalidSettingValue) -> String {
        format(try update(fromText: newText))
    }
}
