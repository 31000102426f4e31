/// A skip-registry event the registry cannot apply: undecodable content or a missing field. Carries the event
/// path and the sending node so an operator can find the sender; the event is logged, counted and acked.
public enum SkipTraceEventError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The content is not the path's data class (`reason` is the decoder's message).
    case undecodable(path: String, sender: String?, reason: String)
    /// `field` is missing or empty (e.g. `vmUuid` of a skip-trace, or both `vmUuid` and `apiId` of a continue).
    case missingField(path: String, field: String, sender: String?)
    /// A path this subscriber does not handle (a wiring mistake).
    case unexpectedPath(String)

    public var description: String {
        switch self {
        case .undecodable(let path, let sender, let reason):
            "canonical event \(path) from node \(sender ?? "?") has undecodable content: \(reason)"
        case .missingField(let path, let field, let sender):
            "canonical event \(path) from node \(sender ?? "?") lacks \(field)"
        case .unexpectedPath(let path):
            "the skip registry does not handle canonical event path \(path)"
        }
    }
}
