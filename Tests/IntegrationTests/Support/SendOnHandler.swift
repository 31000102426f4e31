import CloudBus
import Foundation

/// `cloudbus.test.SendOnMsg`: a test-only request whose handler sends one message on to `target` (a service with no
/// queue, in the tests) before answering — how a real handler's output goes astray.
struct SendOnMsg: BusMessage, Hashable {
    static let className = "cloudbus.test.SendOnMsg"

    var marker: String
}

/// Answers `SendOnMsg` after asking for one output to `target`, carrying the message's marker.
struct SendOnHandler: BusHandler {
    let target: String

    var expectsReply: Bool { true }

    func resourceKey(for message: SendOnMsg) -> String { message.marker }

    func handle(_ message: SendOnMsg, context: HandlerContext) async throws -> HandlerOutput {
        let body = #"{"cloudbus.test.SendOnMsg":{"marker":"\#(message.marker)"}}"#
        return HandlerOutput(
            reply: MessageReply(),
            messages: [OutboundMessage(target: .service(target), body: Data(body.utf8))])
    }
}
