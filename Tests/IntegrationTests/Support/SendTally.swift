import Synchronization

/// What a steady test sender saw while the broker came and went: the ids the broker confirmed, in
/// order, and the publish attempts that failed (connection lost, nacked or returned) and were retried
/// — among them those that never returned at all and were given up on.
final class SendTally: Sendable {
    private let state = Mutex<(confirmed: [String], failed: Int, unreturned: Int)>(([], 0, 0))

    func confirmed(_ id: String) { state.withLock { $0.confirmed.append(id) } }
    func failedAttempt(unreturned: Bool = false) {
        state.withLock { state in
            state.failed += 1
            if unreturned { state.unreturned += 1 }
        }
    }
    var unreturnedAttempts: Int { state.withLock { $0.unreturned } }
    var confirmedCount: Int { state.withLock { $0.confirmed.count } }
    var confirmedIds: [String] { state.withLock { $0.confirmed } }
    var failedAttempts: Int { state.withLock { $0.failed } }
}
