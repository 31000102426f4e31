import Synchronization

/// Matches callbacks to the calls waiting for them, by task uuid.
///
/// Each registered task completes **exactly once**: by the first callback, or by a failure (deadline,
/// cancellation, server shutdown), whichever comes first. Everything after that for the same task, and every
/// callback for a task that is not registered (never was, or already unregistered), is dropped and counted.
/// A callback may arrive before its caller starts waiting (fast agents): it is kept until ``wait(for:)``.
final class CallbackRegistry: Sendable {
    /// The registry was closed (callback server shut down) before the task completed.
    struct Closed: Error {}

    enum Delivery: Equatable {
        /// Handed to the waiting call.
        case accepted
        /// No call waits for this task uuid (unknown, or the call already gave up and left).
        case unknownTask
        /// The task already completed (second callback, or a callback after a timeout not yet cleaned up).
        case alreadyCompleted
    }

    private enum Slot {
        case registered
        case waiting(CheckedContinuation<AgentCallback, any Error>)
        case completed(Result<AgentCallback, any Error>)
    }

    private struct State {
        var slots: [String: Slot] = [:]
        var isOpen = true
        var delivered = 0
        var dropped = 0
    }

    private let state = Mutex(State())

    /// Adds a task; returns `false` when the registry is closed or the uuid is taken.
    func register(_ taskUUID: String) -> Bool {
        state.withLock { state in
            guard state.isOpen, state.slots[taskUUID] == nil else { return false }
            state.slots[taskUUID] = .registered
            return true
        }
    }

    /// Removes a task whatever its state. A caller still suspended in ``wait(for:)`` is resumed with
    /// `CancellationError` (it cannot happen through ``AgentCaller``, which unregisters only after waiting).
    func unregister(_ taskUUID: String) {
        let orphan: CheckedContinuation<AgentCallback, any Error>? = state.withLock { state in
            guard case .waiting(let continuation) = state.slots.removeValue(forKey: taskUUID) else { return nil }
            return continuation
        }
        orphan?.resume(throwing: CancellationError())
    }

    /// Offers a callback to its task.
    func deliver(_ callback: AgentCallback) -> Delivery {
        let (delivery, waiter) = state.withLock { state -> (Delivery, CheckedContinuation<AgentCallback, any Error>?) in
            switch state.slots[callback.taskUUID] {
            case nil:
                state.dropped += 1
                return (.unknownTask, nil)
            case .completed:
                state.dropped += 1
                return (.alreadyCompleted, nil)
            case .registered:
                state.delivered += 1
                state.slots[callback.taskUUID] = .completed(.success(callback))
                return (.accepted, nil)
            case .waiting(let continuation):
                state.delivered += 1
                state.slots[callback.taskUUID] = .completed(.success(callback))
                return (.accepted, continuation)
            }
        }
        waiter?.resume(returning: callback)
        return delivery
    }

    /// Completes a task with an error unless it already completed. Safe from any thread and at any time,
    /// including before the caller waits or after it left.
    func fail(_ taskUUID: String, with error: any Error) {
        let waiter: CheckedContinuation<AgentCallback, any Error>? = state.withLock { state in
            switch state.slots[taskUUID] {
            case .registered:
                state.slots[taskUUID] = .completed(.failure(error))
                return nil
            case .waiting(let continuation):
                state.slots[taskUUID] = .completed(.failure(error))
                return continuation
            case nil, .completed:
                return nil
            }
        }
        waiter?.resume(throwing: error)
    }

    /// Suspends until the task completes and returns its callback or throws its failure. Task cancellation fails
    /// the task with `CancellationError`. Must be called at most once per registration.
    func wait(for taskUUID: String) async throws -> AgentCallback {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<AgentCallback, any Error>) in
                let ready: Result<AgentCallback, any Error>? = state.withLock { state in
                    switch state.slots[taskUUID] {
                    case .registered:
                        state.slots[taskUUID] = .waiting(continuation)
                        return nil
                    case .completed(let result):
                        return result
                    case .waiting:
                        return .failure(AgentHTTPWaitMisuse())
                    case nil:
                        return .failure(Closed())
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            fail(taskUUID, with: CancellationError())
        }
    }

    /// Refuses new tasks and fails every pending one with ``Closed``.
    func close() {
        let waiters: [CheckedContinuation<AgentCallback, any Error>] = state.withLock { state in
            state.isOpen = false
            var waiters: [CheckedContinuation<AgentCallback, any Error>] = []
            for (taskUUID, slot) in state.slots {
                switch slot {
                case .registered:
                    state.slots[taskUUID] = .completed(.failure(Closed()))
                case .waiting(let continuation):
                    state.slots[taskUUID] = .completed(.failure(Closed()))
                    waiters.append(continuation)
                case .completed:
                    break
                }
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: Closed()) }
    }

    /// One consistent snapshot: callbacks handed to a task, callbacks dropped (unknown, late or duplicate task
    /// uuid), and tasks registered and not yet unregistered.
    var counts: (delivered: Int, dropped: Int, pending: Int) {
        state.withLock { ($0.delivered, $0.dropped, $0.slots.count) }
    }
}

/// Two waits on one registration: a programming error inside this module, reported rather than trapped.
struct AgentHTTPWaitMisuse: Error {}
