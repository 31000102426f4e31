import CloudBus
import Foundation
import Inventory
import KVM
import KVMMessages
import Synchronization

/// `cloudbus.test.OutboxThenHangMsg`: marks `hostUuid` Disconnected and writes its `/host/disconnected` to the outbox,
/// then waits on a gate ignoring cancellation — a handler that has written its state and its announcements when its
/// deadline passes. Keyed by `hostUuid`, like a ping.
struct OutboxThenHangMsg: BusMessage, Hashable {
    static let className = "cloudbus.test.OutboxThenHangMsg"

    var hostUuid: String
}

/// The worker's inventory, known only once the worker runs (handlers are registered before).
final class InventorySlot: Sendable {
    private let value = Mutex<(any InventoryBackend)?>(nil)

    func set(_ inventory: any InventoryBackend) { value.withLock { $0 = inventory } }
    var inventory: (any InventoryBackend)? { value.withLock { $0 } }
}

struct OutboxThenHangHandler: BusHandler {
    let gate: HandlerGate
    let store: InventorySlot
    let node: NodeUUID

    var expectsReply: Bool { true }

    func resourceKey(for message: OutboxThenHangMsg) -> String { message.hostUuid }

    func handle(_ message: OutboxThenHangMsg, context: HandlerContext) async throws -> HandlerOutput {
        guard let store = store.inventory else { throw CancellationError() }
        let node = node
        let (_, rows) = try await store.updateHostStatus(
            uuid: message.hostUuid, to: .disconnected, outboxKey: message.hostUuid,
            messages: { _ in
                [OutboxMessage(try .event(HostDisconnectedData(hostUuid: message.hostUuid, reason: nil), from: node))]
            })
        gate.noteStarted(hostUuid: message.hostUuid, hang: true)
        await gate.wait()
        return HandlerOutput(reply: MessageReply(), messages: rows.map(OutboundMessage.init(outbox:)))
    }
}
