import Foundation

/// What an agent POSTed to the callback URL for one async task.
struct AgentCallback: Sendable, Equatable {
    /// The `taskuuid` header: the id the caller chose when posting the request.
    var taskUUID: String
    /// The result JSON (or, when the agent's handler raised, its traceback text).
    var body: Data
    /// The `error` header, present when the agent's handler raised.
    var errorHeader: String?

    init(taskUUID: String, body: Data, errorHeader: String? = nil) {
        self.taskUUID = taskUUID
        self.body = body
        self.errorHeader = errorHeader
    }
}
