import CloudBus
import Primitives

/// A successful MDS answer: which MDS gave it and its JSON object (`success` true or absent, no `error`).
public struct MdsAnswer: Sendable, Equatable {
    public var addr: String
    public var body: [String: JSONValue]
    /// Attempts that failed before this one, in attempt order (transport failures, or deadlines with try-next).
    public var failedAttempts: [MdsAttemptFailure]

    public init(addr: String, body: [String: JSONValue], failedAttempts: [MdsAttemptFailure] = []) {
        self.addr = addr
        self.body = body
        self.failedAttempts = failedAttempts
    }
}
