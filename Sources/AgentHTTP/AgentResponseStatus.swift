import Foundation

/// The two fields every agent result carries: `success` and `error`.
///
/// Agents report their own failures as `success=false` plus an `error` string inside a normal answer; that is not
/// a transport failure, and it is the caller's to turn into a domain error (e.g. a bus reply with `SYS.1006`).
public struct AgentResponseStatus: Sendable, Equatable {
    /// The agent's `success` flag; false when the field is missing or not a boolean.
    public var success: Bool
    /// The agent's `error` string, if any (nil for a missing or `null` field).
    public var error: String?

    public init(success: Bool, error: String?) {
        self.success = success
        self.error = error
    }

    /// Reads `success` and `error` from a JSON object body; nil if the body is not a JSON object.
    public init?(json body: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        self.success = (object["success"] as? Bool) ?? false
        self.error = object["error"] as? String
    }
}
