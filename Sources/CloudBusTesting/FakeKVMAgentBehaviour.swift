extension FakeKVMAgent {
    /// How the fake agent treats a request to one path (optionally for one host). Async-protocol behaviours
    /// answer the POST with HTTP 200 and an empty body, then POST a result to the request's `callbackurl`.
    public enum Behaviour: Sendable, Equatable {
        /// Call back with this JSON text at once; nil means the path's default answer (see ``FakeKVMAgent``).
        case answer(json: String? = nil)
        /// Call back at once with `{"success":false,"error":<error>}`: the agent's handler reported a failure.
        case fail(error: String)
        /// Call back at once with the traceback as body and header `error`: the agent's handler raised.
        case raise(traceback: String)
        /// Answer the POST itself with this status and text; no callback (e.g. 400 "kvmagent is stopping").
        case httpStatus(Int, String)
        /// Answer 200 and never call back: a handler stuck forever, or an agent that cannot reach the worker.
        case acceptAndNeverCallBack
        /// Answer 200 and call back after `delay` (nil JSON: the default answer). Use it for late results.
        case callBackAfter(Duration, json: String? = nil)
        /// Answer 200 and keep the result until ``FakeKVMAgent/releaseHeldCallbacks()``: a late result whose
        /// timing the test controls exactly.
        case holdCallback(json: String? = nil)
        /// Answer 200 and call back twice with the same result, the second after the first was answered.
        case callBackTwice(json: String? = nil)
        /// Accept the connection, read the request and never send an HTTP response.
        case hangRequest
        /// Read the request and close the connection without answering.
        case closeConnection
    }

    /// One request as the fake agent received it.
    public struct RecordedRequest: Sendable, Equatable {
        public var method: String
        public var path: String
        /// Header names lower-cased.
        public var headers: [String: String]
        public var body: String
        /// `hostUuid` from the JSON body, else the `X-Resource-UUID` header.
        public var hostUuid: String?
        /// The `taskuuid` header.
        public var taskUUID: String? { headers["taskuuid"] }
        /// The `callbackurl` header.
        public var callbackURL: String? { headers["callbackurl"] }
    }

    /// VM states one host reports to `/vm/vmsync`: VM uuid to agent state string (`Running`, `Shutdown`,
    /// `Paused`, `Crashed`, `NoState`, `Suspended`), and the VMs listed in `vmInShutdowns`.
    public struct HostVMReport: Sendable, Equatable {
        public var states: [String: String]
        public var vmInShutdowns: [String]

        public init(states: [String: String] = [:], vmInShutdowns: [String] = []) {
            self.states = states
            self.vmInShutdowns = vmInShutdowns
        }
    }
}
