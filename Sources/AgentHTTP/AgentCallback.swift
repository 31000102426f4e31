import Foundation

/// What an agent POSTed to the callback URL for one async task.
public struct AgentCallback: Sendable, Equatable {
    /// The `taskuuid` header: the id the caller chose when posting the request.
    public var taskUUID: String
    /// The result JSON (or, when the agent's handler raised, its traceback text).
    public var body: Data
    /// The `error` header, present when the agent's handler raised.
    public var errorHeader: String?

    public init(taskUUID: String, body: Data, errorHeader: String? = nil) {
        self.taskUUID = taskUUID
        self.body = body
        self.errorHeader = errorHeader
    }
}
