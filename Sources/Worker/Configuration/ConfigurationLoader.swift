import AMQP
import Foundation
import Primitives

/// The configuration `run` uses, with the effective value and the source of every declared setting: what
/// `cloudbus-worker config check` prints.
public struct LoadedConfiguration: Sendable {
    public let configuration: WorkerConfiguration
    /// One per ``WorkerConfiguration/settings``, in that order; secrets already redacted.
    public let settings: [EffectiveSetting]

    /// The setting with this file key.
    public func setting(_ key: String) -> EffectiveSetting? { settings.first { $0.key == key } }
}

/// One setting as it takes effect.
public struct EffectiveSetting: Sendable, Equatable {
    public let key: String
    public let environmentVariable: String
    /// The value (`.null`: unset), with secrets and the passwords inside URLs replaced by `<redacted>`.
    public let value: JSONValue
    public let source: SettingSource
    public let isSecret: Bool
}

extension WorkerConfiguration {
    /// One source's value for one setting: how it is named in errors (`CLOUDBUS_PREFETCH`,
    /// `amqp.prefetch in /etc/…json`, `--prefetch`) and what a password file it names is called
    /// (`CLOUDBUS_AMQP_PASSWORD_FILE`, `amqp.passwordFile`).
    struct SourcedValue {
        var raw: RawSetting
        var source: SettingSource
        var name: String
        var label: String
    }

    private static let declarations = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0) })

    /// Loads file < environment < flags (the file from `file`, else `CLOUDBUS_CONFIG`), then the secret files the
    /// result names (a password file, else a systemd credential), and validates. Every source's values are checked,
    /// also those a higher source overrides: a typo in the file is an error even while the environment masks it.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: Overrides = Overrides()) throws -> LoadedConfiguration {
        let env = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var layers: [[String: SourcedValue]] = []
        if let path = file ?? env("CLOUDBUS_CONFIG") { layers.append(try fileLayer(path)) }
        layers.append(try environmentLayer(env))
        layers.append(try flagLayer(overrides))

        var merged: [String: SourcedValue] = [:]
        for layer in layers {
            var scratch = ConfigurationDraft()
            for (key, value) in layer.sorted(by: { $0.key < $1.key }) {
                try declarations[key]!.apply(&scratch, value.raw, value.name)
            }
            // A group is replaced as a whole: an environment password drops the file's password file.
            let touched = Set(layer.keys.compactMap { declarations[$0]?.group })
            merged = merged.filter { entry in declarations[entry.key]?.group.map { !touched.contains($0) } ?? true }
            merged.merge(layer) { _, higher in higher }
        }
        // systemd's LoadCredential= (packaging/cloudbus-worker.service): used when nothing else names a password.
        if let directory = env("CREDENTIALS_DIRECTORY") {
            for (password, file, credential) in [("amqp.password", "amqp.passwordFile", "amqp-password"),
                                                 ("store.password", "store.passwordFile", "store-password")]
            where merged[password] == nil && merged[file] == nil {
                let path = directory + "/" + credential
                guard FileManager.default.fileExists(atPath: path) else { continue }
                merged[file] = SourcedValue(raw: .text(path), source: .systemdCredential(name: credential),
                                            name: "systemd credential \(credential)", label: credential)
            }
        }

        var draft = ConfigurationDraft()
        var sources: [String: SettingSource] = [:]
        for setting in settings {
            guard let value = merged[setting.key] else { continue }
            try setting.apply(&draft, value.raw, value.name)
            sources[setting.key] = value.source
        }
        draft.configuration.testCrashOnPayload = env("CLOUDBUS_TEST_CRASH_ON_PAYLOAD")
        try finish(&draft, merged: merged, sources: &sources)
        try draft.configuration.validate()
        let effective = settings.map { setting in
            EffectiveSetting(key: setting.key, environmentVariable: setting.environmentVariable,
                             value: setting.shown(draft), source: sources[setting.key] ?? .defaultValue,
                             isSecret: setting.isSecret)
        }
        return LoadedConfiguration(configuration: draft.configuration, settings: effective)
    }

    /// Puts the broker and store settings together: reads the password files, parses the URLs.
    private static func finish(_ draft: inout ConfigurationDraft, merged: [String: SourcedValue],
                               sources: inout [String: SettingSource]) throws {
        /// Where a password read from the file that `fileKey` names came from.
        func fileSource(_ fileKey: String, path: String) -> SettingSource {
            guard let named = merged[fileKey] else { return .defaultValue }
            if case .systemdCredential = named.source { return named.source }
            return .secretFile(via: named.label, path: path)
        }
        // In one source, a password file wins over a password for the broker (as it always has).
        if let path = draft.amqpPasswordFile {
            draft.amqpPassword = try secret(
                fromFile: path, what: "AMQP password file named by \(merged["amqp.passwordFile"]?.name ?? "amqp.passwordFile")")
            sources["amqp.password"] = fileSource("amqp.passwordFile", path: path)
        }
        var amqp = try draft.amqpURLs.map { try AMQPConfiguration(urls: $0) }
            ?? draft.amqpURL.map { try AMQPConfiguration(url: $0) } ?? AMQPConfiguration()
        if let password = draft.amqpPassword {
            amqp.password = password
        } else if let url = draft.amqpURLs?.first ?? draft.amqpURL, URLComponents(string: url)?.password != nil {
            sources["amqp.password"] = sources[draft.amqpURLs == nil ? "amqp.url" : "amqp.urls"]
        }
        if let heartbeat = draft.amqpHeartbeatSeconds { amqp.heartbeat = .seconds(heartbeat) }
        if amqp.tls != nil {
            amqp.tls = .init(caCertificatePath: draft.caCertificate, clientCertificatePath: draft.clientCertificate,
                             clientKeyPath: draft.clientKey, verifyPeer: draft.verifyPeer ?? true)
        }
        draft.configuration.amqp = amqp
        if draft.store.url != nil, draft.store.password == nil, let path = draft.store.passwordFile {
            draft.store.password = try secret(
                fromFile: path, what: "store password file named by \(merged["store.passwordFile"]?.name ?? "store.passwordFile")")
            sources["store.password"] = fileSource("store.passwordFile", path: path)
        }
        do {
            draft.configuration.store = try storeSettings(draft.store)
        } catch ConfigurationError.invalidStore(let reason) where merged["store.url"] != nil {
            throw ConfigurationError.invalidValue(
                name: merged["store.url"]!.name,
                value: "\(Redaction.hidingPassword(in: draft.store.url ?? "")) (\(reason))")
        }
    }

    /// The config file's settings. A key no setting reads is refused, naming the file, the key and the nearest
    /// known one; so is a file that is not one JSON object of objects.
    static func fileLayer(_ path: String) throws -> [String: SourcedValue] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigurationError.unreadableFile(path: path, reason: "\(error.localizedDescription)")
        }
        let top: [String: JSONValue]
        do {
            guard case .object(let object) = try JSONValue(parsing: data) else {
                throw ConfigurationError.invalidFile(path: path, reason: "expected one JSON object")
            }
            top = object
        } catch let error as ConfigurationError { throw error } catch {
            throw ConfigurationError.invalidFile(path: path, reason: "\(error)")
        }
        // A typo in a key must not silently leave the setting at its default.
        if let first = unknownKeys(in: top).first {
            throw ConfigurationError.invalidFile(path: path, reason: describeUnknown(first))
        }
        var layer: [String: SourcedValue] = [:]
        func add(_ key: String, _ value: JSONValue) {
            guard !value.isNull else { return }
            layer[key] = SourcedValue(raw: .json(value), source: .file(path: path), name: "\(key) in \(path)",
                                      label: key)
        }
        for (key, value) in top {
            if declarations[key] != nil { add(key, value); continue }
            if value.isNull { continue }
            guard case .object(let nested) = value else {
                throw ConfigurationError.invalidFile(path: path, reason: "\(key) must be an object of settings")
            }
            for (name, inner) in nested { add(key + "." + name, inner) }
        }
        if layer["amqp.url"] != nil, layer["amqp.urls"] != nil {
            throw ConfigurationError.invalidFile(path: path, reason: "amqp.url and amqp.urls are both set; keep one")
        }
        return layer
    }

    /// Every declared setting's variable that is set and not empty.
    static func environmentLayer(_ env: (String) -> String?) throws -> [String: SourcedValue] {
        var layer: [String: SourcedValue] = [:]
        for setting in settings {
            guard let value = env(setting.environmentVariable) else { continue }
            let variable = setting.environmentVariable
            // Errors name the variable and the key (the one the documentation and `config check` list).
            layer[setting.key] = SourcedValue(raw: .text(value), source: .environment(variable: variable),
                                              name: "\(variable) (\(setting.key))", label: variable)
        }
        if layer["amqp.url"] != nil, layer["amqp.urls"] != nil {
            throw ConfigurationError.invalidValue(
                name: "CLOUDBUS_AMQP_URLS", value: "set together with CLOUDBUS_AMQP_URL; keep one")
        }
        return layer
    }

    /// The command-line overrides. A broker URL with a password in it is refused: flags show in `ps`.
    static func flagLayer(_ overrides: Overrides) throws -> [String: SourcedValue] {
        if let url = overrides.amqpURL, URLComponents(string: url)?.password != nil {
            throw ConfigurationError.passwordOnCommandLine
        }
        var layer: [String: SourcedValue] = [:]
        for setting in settings {
            guard let read = setting.override, let value = read(overrides), let flag = setting.flag else { continue }
            layer[setting.key] = SourcedValue(raw: .text(value), source: .flag(flag), name: flag, label: flag)
        }
        return layer
    }
}

extension LoadedConfiguration {
    /// One line per setting: key, value, source, in aligned columns (`config check`).
    public var text: String {
        let rows = settings.map { setting in
            (setting.key, Self.plain(setting.value), setting.source.description)
        }
        let keyWidth = rows.map(\.0.count).max() ?? 0
        let valueWidth = min(rows.map(\.1.count).max() ?? 0, 48)
        return rows.map { key, value, source in
            let paddedKey = key.padding(toLength: keyWidth, withPad: " ", startingAt: 0)
            let paddedValue = value.count < valueWidth
                ? value.padding(toLength: valueWidth, withPad: " ", startingAt: 0) : value
            return "\(paddedKey)  \(paddedValue)  \(source)"
        }.joined(separator: "\n") + "\n"
    }

    /// `{"settings":[{"key":…,"value":…,"source":…,"environment":…,"secret":…},…]}` (`config check --json`);
    /// values keep their JSON types, unset ones are null.
    public var json: String {
        let entries: [JSONValue] = settings.map { setting in
            .object(["key": .string(setting.key), "value": setting.value, "source": .string(setting.source.description),
                     "environment": .string(setting.environmentVariable), "secret": .bool(setting.isSecret)])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(JSONValue.object(["settings": .array(entries)]))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A value for the text listing: strings bare, lists comma-separated (`[]` when empty), unset as `-`.
    static func plain(_ value: JSONValue) -> String {
        switch value {
        case .null: "-"
        case .string(let text): text
        case .bool(let flag): String(flag)
        case .integer(let number): String(number)
        case .double(let number): String(number)
        case .array(let items): items.isEmpty ? "[]" : items.map(plain).joined(separator: ",")
        case .object: RawSetting.json(value).shown
        }
    }
}
