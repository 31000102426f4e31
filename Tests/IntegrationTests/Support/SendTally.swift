import Synchronization

/// What a steady test sender saw while the broker came and went: the ids the broker confirmed, in
/// order, and the publish attempts that failed (connection lost, nacked or returned) and were retried.
final class SendTally: Sendable {
    private let state = Mutex<(confirmed: [String], failed: Int)>(([], 0))

    func confirmed(_ id: String) { state.withLock { $0.confirmed.append(id) } }
    func failedAttempt() { state.withLock { $0.failed += 1 } }
    var confirmedCount: Int { state.withLock { $0.confirmed.count } }
    var confirmedIds: [String] { state.withLock { $0.confirmed } }
    var failedAttempts: Int { state.withLock { $0.failed } }
}
