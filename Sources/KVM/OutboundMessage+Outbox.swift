import CloudBus
import Foundation
import Inventory
import Primitives

// The bridge between what handlers send (`OutboundMessage`, the wire) and what the store keeps (`OutboxMessage`):
// KVM handlers write their outputs to the outbox with the state change, and the worker publishes rows back.

extension OutboxMessage {
    /// The row that keeps `message` until the broker confirmed it.
    public init(_ message: OutboundMessage) {
        let target: OutboxTarget = switch message.target {
        case .service(let serviceId): .service(serviceId)
        case .event(let routingKey): .event(routingKey: routingKey)
        }
        self.init(target: target, body: [UInt8](message.body), expirationMillis: message.expiration?.inMilliseconds)
    }
}

extension OutboundMessage {
    /// The message an outbox row holds, tagged with the row so the worker can remove it once confirmed.
    public init(outbox entry: OutboxEntry) {
        let target: Target = switch entry.message.target {
        case .service(let serviceId): .service(serviceId)
        case .event(let routingKey): .event(routingKey: routingKey)
        }
        self.init(target: target, body: Data(entry.message.body),
                  expiration: entry.message.expirationMillis.map { .milliseconds($0) }, outboxSeq: entry.seq)
    }
}
