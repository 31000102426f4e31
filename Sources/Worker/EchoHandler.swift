import Glibc
import CloudBus

/// Answers `cloudbus.worker.EchoMsg` with its payload: a liveness check through the whole
/// pipeline (decode, executor, confirm, ack) with no outside I/O — also what the benchmark measures.
struct EchoHandler: BusHandler {
    /// Test-only (`CLOUDBUS_TEST_CRASH_ON_PAYLOAD`): an echo of exactly this payload ends the process at once, as a
    /// crashing handler would, so tests can show that a poison message is dead-lettered after the delivery limit
    /// instead of crashing the worker forever. Nil in every real deployment.
    var crashOnPayload: String?

    var expectsReply: Bool { true }
    /// Nothing but the reply: it runs on the consuming connection's thread.
    var isLightweight: Bool { true }

    /// Keyed by payload: echoes with distinct payloads run concurrently, equal payloads in arrival order
    /// (the benchmark sends distinct payloads; `bench --same-key` measures one hot key).
    func resourceKey(for message: EchoMsg) -> String { message.payload ?? "echo" }

    func handle(_ message: EchoMsg, context: HandlerContext) async throws -> HandlerOutput {
        if let crashOnPayload, message.payload == crashOnPayload {
            _exit(86)  // no cleanup, no ack: what a crash leaves behind
        }
        return HandlerOutput(reply: EchoReply(payload: message.payload))
    }
}
