import CoreMetrics
import AMQP
import BodyCompression
import CloudBus
import CloudBusAMQP
import Logging

/// Empties a departed worker's service queues into the queues of the workers that now own each request's resource,
/// on a connection of its own, for as long as `keepGoing` says (while the worker stays departed and this one holds
/// the store's drain claim).
///
/// Each request is read only far enough to find its resource (class and fields); it is republished **unchanged**
/// (body and properties: reply address, correlation id, deadline) to the owner's queue of the same service, and the
/// original is acked only once the broker confirmed the copy. A request with no resource of the ring (an echo, a ZBS
/// call) or one that does not decode goes to this worker's own queue, whose pipeline serves or refuses it as usual.
/// The consumer is exclusive: if the "departed" worker is alive after all (cut off from the store, not from the
/// broker), the broker refuses the drain instead of letting two consumers break the queue's order.
///
/// The queues are not deleted: senders with an old ring may still publish to them, and the drain takes those too; a
/// worker that comes back with the same node id finds its queues where it left them.
struct DepartedQueueDrain: Sendable {
    let departed: NodeUUID
    let services: [String]
    let selfNode: NodeUUID
    let membership: ClusterMembership
    let handlers: HandlerTable
    let configuration: WorkerConfiguration
    let metrics: WorkerMetrics
    let logger: Logger

    /// Drains until `keepGoing` returns false (asked every `interval`) or the task is cancelled.
    func run(checkEvery interval: Duration, keepGoing: @escaping @Sendable () async -> Bool) async {
        var amqp = configuration.amqp
        amqp.connectionName += " (drain \(departed.rawValue))"
        let connection = AMQPConnection(configuration: amqp, prefetch: 64, logger: logger)
        do {
            try await connection.start()
            // Declared as the departed worker declared them (a no-op when they exist), so the consume cannot fail
            // on a queue that was never created. Not its event queue: nobody would read it.
            try await connection.declare(BusTopology.serviceQueues(node: departed, services: services,
                                                                   queues: configuration.queueOptions))
            var streams: [(String, DeliveryStream)] = []
            for service in services {
                let queue = ServiceID(service: service, node: departed).queueName
                streams.append((service, try await connection.consume(ConsumerSpecification(
                    queue: queue, exclusive: true, maxBodyBytes: configuration.maxBodyBytes))))
            }
            logger.notice("draining a departed worker's queues", metadata: [
                "departed": "\(departed)", "services": "\(services.joined(separator: ","))",
            ])
            await withTaskGroup(of: Void.self) { group in
                for (service, stream) in streams {
                    group.addTask {
                        for await delivery in stream { await self.pass(delivery, service: service, on: connection) }
                    }
                }
                group.addTask {
                    while !Task.isCancelled, await keepGoing() {
                        try? await Task.sleep(for: interval)
                    }
                    await connection.stopConsuming()
                }
                await group.next()
                group.cancelAll()
                await connection.stopConsuming()
            }
        } catch {
            logger.warning("could not drain a departed worker's queues (is it alive after all?)", metadata: [
                "departed": "\(departed)", "error": "\(error)",
            ])
        }
        await connection.close()
        logger.info("stopped draining", metadata: ["departed": "\(departed)"])
    }

    private func pass(_ delivery: Delivery, service: String, on connection: AMQPConnection) async {
        let owner = resource(of: delivery).map(membership.owner(of:)) ?? selfNode
        var target = ServiceID(service: service, node: owner).queueName
        do {
            var outcome = try await connection.publish(OutgoingMessage(
                exchange: BusNames.p2pExchange, routingKey: target, body: delivery.body,
                properties: delivery.properties, mandatory: true))
            if case .returned = outcome, owner != selfNode {
                // The owner has not declared its queues: this worker serves it rather than lose it.
                target = ServiceID(service: service, node: selfNode).queueName
                outcome = try await connection.publish(OutgoingMessage(
                    exchange: BusNames.p2pExchange, routingKey: target, body: delivery.body,
                    properties: delivery.properties, mandatory: true))
            }
            guard case .confirmed = outcome else {
                throw DrainError.unroutable(queue: target)
            }
            metrics.drained.increment()
            connection.ack(delivery.tag)
        } catch {
            logger.warning("could not pass a drained message on; it stays in the departed queue", metadata: [
                "departed": "\(departed)", "target": "\(target)", "error": "\(error)",
            ])
            try? await Task.sleep(for: configuration.publishFailureBackoff)
            connection.nack(delivery.tag, requeue: true)
        }
    }

    /// The ring resource of a drained request, or nil (no resource, compressed, or not decodable).
    private func resource(of delivery: Delivery) -> String? {
        guard !delivery.isTruncated, delivery.properties.headers["compressed"]?.stringValue != "true",
              let envelope = try? EnvelopeCodec.decode(delivery.body, registry: handlers.registry,
                                                       maxBodyBytes: configuration.maxBodyBytes),
              let entry = handlers.entry(for: envelope.className)
        else { return nil }
        return entry.ownedResource(envelope.message)
    }

    enum DrainError: Error, CustomStringConvertible {
        case unroutable(queue: String)
        var description: String {
            switch self {
            case .unroutable(let queue): "no queue took the copy (\(queue))"
            }
        }
    }
}
