import CoreMetrics
import CloudBus
import Logging
import Primitives

/// Canonical events from `BROADCAST`, handed to the subscribers of their path (see ``CanonicalEventSubscriber``).
///
/// Several subscribers may share a path; they run one after the other, in registration order, under the executor
/// key the first of them chooses, so an event is seen in the same order by all of them. Events this worker fired
/// itself are skipped, as are paths nobody subscribed to. A subscriber that throws is logged and counted; the
/// others still run and the event is acked (an event is never answered, and retrying a deterministic failure
/// would loop).
struct CanonicalEventHandler: BusHandler {
    let node: NodeUUID
    let metrics: WorkerMetrics
    let logger: Logger
    let subscribers: [String: [any CanonicalEventSubscriber]]
    /// Lifecycle and global-config events from other senders are logged, counted and ignored.
    let trusted: TrustedSenders

    init(node: NodeUUID, metrics: WorkerMetrics, logger: Logger, subscribers: [any CanonicalEventSubscriber],
         trusted: TrustedSenders = TrustedSenders(nodes: [])) {
        self.trusted = trusted
        self.node = node
        self.metrics = metrics
        self.logger = logger
        var byPath: [String: [any CanonicalEventSubscriber]] = [:]
        for subscriber in subscribers {
            for path in subscriber.paths { byPath[path, default: []].append(subscriber) }
        }
        self.subscribers = byPath
    }

    var expectsReply: Bool { false }

    func resourceKey(for message: CanonicalEvent) -> String {
        subscribers[message.path]?.first?.resourceKey(for: message) ?? "event:\(message.path)"
    }

    func handle(_ message: CanonicalEvent, context: HandlerContext) async throws -> HandlerOutput {
        metrics.events.increment()
        guard message.managementNodeId != node.rawValue, let interested = subscribers[message.path] else {
            return HandlerOutput()
        }
        if TrustedSenders.isGuarded(path: message.path), !trusted.admits(message.managementNodeId) {
            metrics.untrustedEvents.increment()
            logger.warning("event from a sender not in trustedSenders ignored", metadata: [
                "path": "\(message.path)", "sender": "\(message.managementNodeId ?? "unknown")",
            ])
            return HandlerOutput()
        }
        var outbound: [OutboundMessage] = []
        for subscriber in interested {
            do {
                outbound += try await subscriber.handle(message, context: context)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                metrics.eventFailures.increment()
                logger.warning("canonical event subscriber failed", metadata: [
                    "path": "\(message.path)", "subscriber": "\(type(of: subscriber))", "error": "\(error)",
                ])
            }
        }
        return HandlerOutput(messages: outbound)
    }
}
