import Foundation
import Primitives

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
    ///
    /// Decoded into a lenient struct (one pass, `JSONDecoder` as the fallback) rather than through
    /// `JSONSerialization`, whose tree of `NSDictionary`/`NSNumber` for the whole body cost more than the typed decode
    /// that follows it on every agent answer (a ping's and a VM sync's).
    public init?(json body: Data) {
        guard let fields = try? JSONBytesDecoder.decode(LenientFields.self, from: body) else { return nil }
        self.success = fields.success
        self.error = fields.error
    }

    /// A wrong type reads as absent, as ``success`` and ``error`` promise; only a body that is not an object fails.
    private struct LenientFields: Decodable {
        var success: Bool
        var error: String?

        enum CodingKeys: String, CodingKey { case success, error }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            success = (try? container.decodeIfPresent(Bool.self, forKey: .success)) ?? false
            error = (try? container.decodeIfPresent(String.self, forKey: .error)) ?? nil
        }
    }
}
