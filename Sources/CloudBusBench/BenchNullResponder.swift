import AMQP
import CloudBus

/// Responder (b): `AMQP.NullResponder`, the raw rabbitmq-c baseline, on its own thread and connection inside the
/// bench process. Same prefetch as the worker; in reliable mode a durable queue and confirmed replies (and with
/// `null-confirm`, confirmed replies in transient mode as well).
final class BenchNullResponder: BenchResponder {
    let kind: BenchResponderKind
    let node = NodeUUID.random()
    let inProcess = true
    private let responder: NullResponder

    /// - Parameter confirmAlways: confirm replies (and ack only after the confirm) in transient mode too.
    init(setup: BenchSetup, reliable: Bool, confirmAlways: Bool = false) {
        kind = confirmAlways ? .nullConfirm : .null
        let queue = ServiceID(service: ServiceID.hostService, node: node).queueName
        responder = NullResponder(configuration: setup.amqp, options: .init(
            queue: queue, exchange: BusNames.p2pExchange, prefetch: setup.prefetch, durableQueue: reliable,
            confirmReplies: reliable || confirmAlways))
    }

    var serviceId: String { ServiceID(service: ServiceID.hostService, node: node).rawValue }
    var queue: String { responder.options.queue }
    var leftoverQueues: [String] { [queue] }

    func start() async throws { try await responder.start() }

    func cpuTime() -> Duration? { responder.cpuTime }

    func peakRSS() -> Int? { nil }

    func stop() async -> String? {
        guard let error = await responder.stop() else { return nil }
        return "null responder ended early: \(error)"
    }

    var statistics: NullResponder.Statistics { responder.statistics }
}
