import CloudBus

/// Answers `cloudbus.worker.EchoMsg` with its payload: a liveness check through the whole
/// pipeline (decode, executor, confirm, ack) with no outside I/O — also what the benchmark measures.
struct EchoHandler: BusHandler {
    var expectsReply: Bool { true }

    /// Keyed by payload: echoes with distinct payloads run concurrently, equal payloads in arrival order
    /// (the benchmark sends distinct payloads; `bench --same-key` measures one hot key).
    func resourceKey(for message: EchoMsg) -> String { message.payload ?? "echo" }

    func handle(_ message: EchoMsg, context: HandlerContext) async throws -> HandlerOutput {
        HandlerOutput(reply: EchoReply(payload: message.payload))
    }
}
