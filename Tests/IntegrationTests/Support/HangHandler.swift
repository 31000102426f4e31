import CloudBus
import Synchronization

/// Serves `HangMsg` for the tests of a stuck key. A hanging call waits on `gate` and deliberately
/// ignores cancellation — the worst handler the worker must survive: its deadline can only be
/// enforced by abandoning it. The test opens the gate at the end so no task outlives it.
struct HangHandler: BusHandler {
    let gate: HandlerGate

    var expectsReply: Bool { true }

    func resourceKey(for message: HangMsg) -> String { message.hostUuid }

    func handle(_ message: HangMsg, context: HandlerContext) async throws -> HandlerOutput {
        gate.noteStarted(hostUuid: message.hostUuid, hang: message.hang)
        if message.hang { await gate.wait() }
        return HandlerOutput(reply: MessageReply())
    }
}
