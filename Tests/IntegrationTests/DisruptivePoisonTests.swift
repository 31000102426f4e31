import CloudBusTesting
import Testing

/// Classic queues carry no delivery count: the worker counts redeliveries in its store, so a message that crashes
/// it every time is refused at the delivery limit here too. Serial phase: it crashes worker processes.
@Suite("Poison messages on classic queues", .enabled(if: TestBroker.available))
struct DisruptivePoisonTests {
    @Test("a message that crashes the worker is refused as poison at the delivery limit; the worker keeps serving")
    func poisonOnClassicQueues() async throws {
        try await PoisonScenario.run(worker: [:], client: try TestBroker.configuration(),
                                     probe: try await DeadLetterProbe.open())
    }
}
