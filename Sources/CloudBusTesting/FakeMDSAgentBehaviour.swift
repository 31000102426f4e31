import Foundation

extension FakeMDSAgent {
    /// How the fake MDS treats one request to one path. On async paths the POST is answered 200 with an empty body
    /// and the result is POSTed to `callbackurl`; on sync paths (`/echo`, `/volume/clients`) the result is the
    /// response body.
    public enum Behaviour: Sendable, Equatable {
        /// The path's default answer (see ``FakeMDSAgent``), or this JSON text.
        case answer(json: String? = nil)
        /// `{"success":false,"error":<error>}`, as the agent's `@replyerror` reports a handler failure.
        case fail(error: String)
        /// Answer the POST itself with this status and text; no callback.
        case httpStatus(Int, String)
        /// A result that is not JSON: the response body (sync) or the callback body (async).
        case garbage(String)
        /// Accept and never answer: sync paths never send a response, async paths answer 200 and never call back.
        case neverAnswer
        /// Async paths: answer 200 and call back after `delay`. Sync paths cannot answer late over a connection
        /// the client has closed, so there this behaves as ``neverAnswer``.
        case answerAfter(Duration, json: String? = nil)
        /// Async paths: call back twice with the same result (the second after the first was answered).
        case callBackTwice(json: String? = nil)
        /// Read the request and close the connection without answering (the client sees a reset).
        case closeConnection
    }

    /// One request as the fake MDS received it.
    public struct RecordedRequest: Sendable, Equatable {
        /// Path below `/zbs/primarystorage` (e.g. `/volume/clients`).
        public var path: String
        /// Header names lower-cased.
        public var headers: [String: String]
        public var body: String

        /// A top-level string field of the JSON body (`uuid`, `addr`, `path`, ...).
        public func string(_ field: String) -> String? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?[field] as? String
        }

        /// A top-level field of the JSON body, re-encoded as JSON text (for numbers, lists, objects).
        public func jsonText(_ field: String) -> String? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let value = object[field],
                let data = try? JSONSerialization.data(
                    withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
            else { return nil }
            return String(decoding: data, as: UTF8.self)
        }

        /// The `taskuuid` header (async paths).
        public var taskUUID: String? { headers["taskuuid"] }
    }
}
