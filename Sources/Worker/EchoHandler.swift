import CloudBus

/// Answers `cloudbus.worker.EchoMsg` with its payload: a liveness check through the whole
/// pipeline (decode, executor, confirm, ack) with no outside I/O — also what the benchmark measures.
struct EchoHandler: BusHandler {
    var expectsReply: Bool { true }

    /// Echoes are keyed by their own id: they exercise the executor without serialising on one key.
    func resourceKey(for message: EchoMsg) -> String { message.payload ?? "echo" }

    func handle(_ message: EchoMsg, context: HandlerContext) async throws -> HandlerOutput {
        HandlerOutput(reply: EchoReply(payload: message.payload))
    }
}
