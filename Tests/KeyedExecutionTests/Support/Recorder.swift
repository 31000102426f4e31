import Synchronization

/// Collects values from jobs and completions, in the order they arrive, and lets the test wait for a count.
final class Recorder<Value: Sendable>: Sendable {
    private struct State {
        var values: [Value] = []
        var nextID = 0
        var waiters: [(id: Int, count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    var values: [Value] {
        state.withLock { $0.values }
    }

    var count: Int {
        state.withLock { $0.values.count }
    }

    func record(_ value: Value) {
        let ready = state.withLock { state in
            state.values.append(value)
            let count = state.values.count
            let ready = state.waiters.filter { $0.count <= count }.map(\.continuation)
            state.waiters.removeAll { $0.count <= count }
            return ready
        }
        for continuation in ready {
            continuation.resume()
        }
    }

    /// Suspends until at least `count` values have been recorded, or until the waiting task is cancelled (the
    /// suite's time limit cancels a stuck test, which then fails on its next expectation instead of hanging).
    func waitUntil(count: Int) async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    if state.values.count >= count || Task.isCancelled {
                        continuation.resume()
                    } else {
                        state.waiters.append((id, count, continuation))
                    }
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0) }
            }
            waiter?.continuation.resume()
        }
    }
}
