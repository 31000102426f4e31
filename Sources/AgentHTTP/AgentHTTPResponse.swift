import Foundation

/// What an agent answered to one HTTP request: the status code and the whole body.
///
/// ``AgentHTTPClient`` returns every status as a value; deciding that a non-2xx is a failure is the caller's job
/// (``AgentCaller`` does it and throws ``AgentHTTPError/httpStatus(endpoint:path:code:bodySnippet:)``).
public struct AgentHTTPResponse: Sendable, Equatable {
    /// HTTP status code, e.g. 200.
    public var status: Int
    /// The complete response body.
    public var body: Data

    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }

    /// The status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }
}
