import Synchronization

/// What a `HangHandler` waits on, and what it saw: which hosts' calls started, hanging or not.
/// `open()` releases every waiter, present and future; a waiter is never resumed twice.
final class HandlerGate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var hangingStarts: [String: Int] = [:]
        var promptStarts: [String: Int] = [:]
    }

    private let state = Mutex(State())

    func noteStarted(hostUuid: String, hang: Bool) {
        state.withLock { state in
            if hang { state.hangingStarts[hostUuid, default: 0] += 1 } else { state.promptStarts[hostUuid, default: 0] += 1 }
        }
    }

    /// Calls that started hanging for `hostUuid`.
    func hangingStarts(for hostUuid: String) -> Int { state.withLock { $0.hangingStarts[hostUuid] ?? 0 } }

    /// Calls for `hostUuid` that ran to completion at once.
    func promptStarts(for hostUuid: String) -> Int { state.withLock { $0.promptStarts[hostUuid] ?? 0 } }

    /// Suspends until `open()`; cancellation does not end the wait (on purpose).
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
