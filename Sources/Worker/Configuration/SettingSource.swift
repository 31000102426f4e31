import Primitives

/// Where a setting's effective value came from, as `cloudbus-worker config check` prints it.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    /// Nothing set it.
    case defaultValue
    /// The JSON config file at this path.
    case file(path: String)
    /// This `CLOUDBUS_*` environment variable.
    case environment(variable: String)
    /// This command-line flag (`--amqp-url`).
    case flag(String)
    /// A secret read from a file that another setting named: `via` is that setting's variable or key
    /// (`CLOUDBUS_AMQP_PASSWORD_FILE`, `amqp.passwordFile`), `path` the file.
    case secretFile(via: String, path: String)
    /// A systemd credential (`LoadCredential=`) found in `$CREDENTIALS_DIRECTORY`.
    case systemdCredential(name: String)

    public var description: String {
        switch self {
        case .defaultValue: "default"
        case .file(let path): "file \(path)"
        case .environment(let variable): "env \(variable)"
        case .flag(let flag): "flag \(flag)"
        case .secretFile(let via, let path): "file \(via)=\(path)"
        case .systemdCredential(let name): "systemd credential \(name)"
        }
    }
}

/// A setting's value before it is parsed: text from the environment or a flag, JSON from the config file (which
/// keeps its types: a file that says `"port": "80"` is refused as it always was).
enum RawSetting: Sendable {
    case text(String)
    case json(JSONValue)

    /// The value as the user wrote it, for an error message.
    var shown: String {
        switch self {
        case .text(let text): return text
        case .json(let value):
            guard let data = try? value.jsonData() else { return "\(value)" }
            return String(decoding: data, as: UTF8.self)
        }
    }
}
