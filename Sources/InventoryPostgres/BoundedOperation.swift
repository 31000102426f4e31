import Synchronization

/// Runs `body` but answers within `limit`: when the limit passes first, the caller gets ``BoundedOperationTimeout``
/// at once and `body` is cancelled without being waited for.
///
/// Why not a task group: a group waits for every child, and a query on a connection whose peer stopped answering
/// (a frozen database host, a dropped route) does not end on cancellation; it ends when TCP gives up, minutes later.
/// The worker must see "store unavailable" within its bound instead, so the body is left to finish on its own (its
/// connection is then closed by the pool) while the caller moves on.
func bounded<T: Sendable>(
    by limit: Duration, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = OneShotOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.install(continuation)
            let work = Task {
                do { outcome.resume(with: .success(try await body())) } catch { outcome.resume(with: .failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled else { return }
                outcome.resume(with: .failure(BoundedOperationTimeout(limit: limit)))
                work.cancel()
            }
            outcome.onCancel { work.cancel(); timer.cancel() }
            outcome.onFinish { timer.cancel() }
        }
    } onCancel: {
        outcome.cancel()
    }
}

/// The limit of ``bounded(by:_:)`` passed before the operation answered.
struct BoundedOperationTimeout: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "no answer from the database within \(limit)" }
}

/// The continuation of one bounded operation, resumed exactly once by whichever comes first: the result, the
/// timeout, or the caller's cancellation.
private final class OneShotOutcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var finished = false
        var cancelled = false
        var cancelActions: [@Sendable () -> Void] = []
        var finishActions: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let cancelledAlready = state.withLock { state -> Bool in
            state.continuation = continuation
            return state.cancelled
        }
        if cancelledAlready { resume(with: .failure(CancellationError())) }
    }

    func resume(with result: Result<T, any Error>) {
        let (continuation, actions) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [@Sendable () -> Void]) in
            guard !state.finished, let continuation = state.continuation else { return (nil, []) }
            state.finished = true
            state.continuation = nil
            defer { state.finishActions = []; state.cancelActions = [] }
            return (continuation, state.finishActions)
        }
        guard let continuation else { return }
        for action in actions { action() }
        continuation.resume(with: result)
    }

    func onCancel(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.cancelled { return true }
            if !state.finished { state.cancelActions.append(action) }
            return false
        }
        if runNow { action() }
    }

    func onFinish(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.finished { return true }
            state.finishActions.append(action)
            return false
        }
        if runNow { action() }
    }

    func cancel() {
        let actions = state.withLock { state -> [@Sendable () -> Void] in
            state.cancelled = true
            defer { state.cancelActions = [] }
            return state.cancelActions
        }
        for action in actions { action() }
        resume(with: .failure(CancellationError()))
    }
}
