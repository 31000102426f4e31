import CloudBus
import Foundation
import LiveSettings
import Primitives

/// Answers `cloudbus.worker.UpdateSettingMsg`: applies a new value to one runtime setting, or refuses it with
/// SYS.1007 (unknown name, invalid value) leaving the setting as it was.
struct SettingUpdateHandler: BusHandler {
    let settings: [String: any NamedSetting]
    /// Whose changes are obeyed; the sender is the node of the request's reply inbox.
    var trusted = TrustedSenders(nodes: [])

    var expectsReply: Bool { true }
    /// A lookup and a store into a setting: it runs on the consuming connection's thread.
    var isLightweight: Bool { true }

    /// One key for all setting changes: they apply in arrival order.
    func resourceKey(for message: UpdateSettingMsg) -> String { "settings" }

    func handle(_ message: UpdateSettingMsg, context: HandlerContext) async throws -> HandlerOutput {
        let sender = TrustedSenders.sender(of: context.base)
        guard trusted.admits(sender) else {
            let details = "setting[\(message.name)] not changed: sender[\(sender ?? "unknown")] is not in trustedSenders"
            throw BadRequest(SysError.operationError.error(details), reason: "untrusted-sender")
        }
        guard let setting = settings[message.name] else {
            let known = settings.keys.sorted().joined(separator: ", ")
            throw BadRequest(SysError.invalidArgument.error("unknown setting[\(message.name)]; known: \(known)"),
                             reason: "unknown-setting")
        }
        do {
            let old = try setting.apply(text: message.value)
            return HandlerOutput(reply: UpdateSettingReply(name: message.name, oldValue: old, newValue: setting.text))
        } catch {
            throw BadRequest(SysError.invalidArgument.error(error.description), reason: "invalid-setting")
        }
    }
}

/// ZStack's global-config update event (`GlobalConfigCanonicalEvents`, path `/globalConfig/update/<category>/<name>`,
/// content `{newValue, oldValue}`): when a management node changes `kvm.orphanedVmSkipTimeout` (or another setting
/// this worker shares), the worker follows. An invalid value is logged and ignored (ZStack validated it already;
/// this worker's rule may be stricter).
struct GlobalConfigSubscriber: CanonicalEventSubscriber {
    static let pathPrefix = "/globalConfig/update/"
    let settings: [String: any NamedSetting]
    let onRefused: @Sendable (InvalidSettingValue) -> Void

    var paths: Set<String> {
        Set(settings.keys.map { Self.pathPrefix + $0.replacingOccurrences(of: ".", with: "/", maxReplacements: 1) })
    }

    func resourceKey(for event: CanonicalEvent) -> String { "settings" }

    func handle(_ event: CanonicalEvent, context: HandlerContext) async throws -> [OutboundMessage] {
        let name = String(event.path.dropFirst(Self.pathPrefix.count))
            .replacingOccurrences(of: "/", with: ".", maxReplacements: 1)
        guard let setting = settings[name], let newValue = event.content?["newValue"] else { return [] }
        let value = newValue.stringValue ?? newValue.int64Value.map(String.init) ?? newValue.boolValue.map(String.init)
        guard let value else { return [] }
        do {
            _ = try setting.apply(text: value)
        } catch {
            onRefused(error)
        }
        return []
    }
}

extension String {
    /// `replacingOccurrences` limited to the first `maxReplacements` matches (setting names contain more dots
    /// than the category separator, e.g. `vm.enable.vm.address.recording`).
    func replacingOccurrences(of target: String, with replacement: String, maxReplacements: Int) -> String {
        var result = self
        var searchStart = result.startIndex
        for _ in 0..<maxReplacements {
            guard let range = result.range(of: target, range: searchStart..<result.endIndex) else { break }
            result.replaceSubrange(range, with: replacement)
            searchStart = result.index(range.lowerBound, offsetBy: replacement.count)
        }
        return result
    }
}
