import Synchronization

/// A one-shot gate: waiters suspend until `open()` is called; after that, waiting returns at once.
final class Latch: Sendable {
    private struct State {
        var isOpen = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var isOpen: Bool {
        state.withLock { $0.isOpen }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// For the test itself: returns when the latch opens, or when the waiting task is cancelled (the suite's time
    /// limit cancels a stuck test, which then fails on its next expectation instead of hanging the run).
    func wait() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await park(id: id, honouringCancellation: true)
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// For job bodies that model a hung call: returns only when the latch opens, whatever happens to the task.
    /// Every test opens its latches before it ends, so nothing stays suspended.
    func waitIgnoringCancellation() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await park(id: id, honouringCancellation: false)
    }

    private func park(id: Int, honouringCancellation: Bool) async {
        await withCheckedContinuation { continuation in
            state.withLock { state in
                if state.isOpen || (honouringCancellation && Task.isCancelled) {
                    continuation.resume()
                } else {
                    state.waiters[id] = continuation
                }
            }
        }
    }
}
