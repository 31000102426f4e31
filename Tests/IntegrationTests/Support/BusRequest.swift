import CloudBus
import Foundation
import Primitives
import Worker

/// A request envelope with every base field a sender owns filled in (`id`, `createdTime`,
/// `timeout`, `serviceId`, `headers.correlationId/replyTo/noReply`), for tests that publish many
/// requests themselves and collect the replies with a `ReplyCollector` instead of `RPCClient.call`.
struct BusRequest: Sendable {
    let id: String
    let className: String
    let fields: [String: JSONValue]

    init(id: String = MessageID.random(), className: String, fields: [String: JSONValue]) {
        self.id = id
        self.className = className
        self.fields = fields
    }

    /// An echo whose payload is its own id: a reply proves by itself which request it answers.
    static func echo(id: String = MessageID.random()) -> BusRequest {
        BusRequest(id: id, className: EchoMsg.className, fields: ["payload": .string(id)])
    }

    /// The JSON body addressed to `service` (`<service>.<node>`), answered to `replyTo`.
    func body(service: String, replyTo: String, timeout: Duration) throws -> Data {
        var all = fields
        all["id"] = .string(id)
        all["createdTime"] = .integer(EpochMillis.now())
        all["timeout"] = .integer(timeout.inMilliseconds)
        all["serviceId"] = .string(service)
        all["headers"] = .object([
            "correlationId": .string(id), "replyTo": .string(replyTo), "noReply": .string("false"),
            "schema": .object([:]),
        ])
        return try JSONValue.object([className: .object(all)]).jsonData()
    }
}
