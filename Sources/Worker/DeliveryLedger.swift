import AMQP
import KeyedExecution
import Synchronization

/// Remembers which message ids are being handled or were handled recently, so a redelivered
/// copy (after a lost ack or a reconnect) is acked instead of executed twice. A copy that arrives
/// while the original is still running is parked and acked together with it.
/// Bounded: the window forgets the oldest ids first (a start; a persistent window can follow).
final class DeliveryLedger: Sendable {
    private let inFlight = Mutex<[String: [DeliveryTag]]>([:])
    private let completed: RecentIDWindow<String>

    init(capacity: Int) {
        completed = RecentIDWindow(capacity: max(1, capacity))
    }

    enum Admission {
        case first
        /// Handled already: ack it and do nothing else.
        case alreadyHandled
        /// The original is still running; this copy will be acked with it.
        case parked
    }

    func admit(id: String, tag: DeliveryTag) -> Admission {
        if completed.contains(id) { return .alreadyHandled }
        return inFlight.withLock { table in
            if table[id] != nil {
                table[id]!.append(tag)
                return .parked
            }
            table[id] = []
            return .first
        }
    }

    /// Marks `id` handled and returns the parked copies to ack.
    func finish(id: String) -> [DeliveryTag] {
        _ = completed.insertIfAbsent(id)
        return inFlight.withLock { $0.removeValue(forKey: id) } ?? []
    }

    /// The original could not complete (connection lost before its outputs were confirmed): forget
    /// it so the broker's redelivery is handled afresh.
    func abandon(id: String) -> [DeliveryTag] {
        inFlight.withLock { $0.removeValue(forKey: id) } ?? []
    }
}

/// Decides who answers a request when a handler races its deadline: the handler's reply or the
/// timeout reply, never both.
final class AnswerClaim: Sendable {
    private let claimed = Atomic<Bool>(false)

    func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
