import Synchronization

/// A one-shot gate: `wait()` suspends until `open()` is called, and returns at once afterwards.
///
/// `wait()` deliberately ignores task cancellation — that is how tests model a job that does not cooperate with
/// cancellation. Every test opens its latches before it ends, so nothing stays suspended.
final class Latch: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var isOpen: Bool {
        state.withLock { $0.isOpen }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            state.withLock { state in
                if state.isOpen {
                    continuation.resume()
                } else {
                    state.waiters.append(continuation)
                }
            }
        }
    }
}
