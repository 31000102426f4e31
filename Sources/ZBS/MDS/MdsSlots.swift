import AgentHTTP
import NIOCore
import Synchronization

/// Caps the attempts in flight per MDS (ZStack's async HTTP pool allows 2 connections per route), so a burst of
/// calls cannot open hundreds of connections to one MDS.
///
/// Promises: waiters are served first come, first served; a waiter gives up at its attempt's deadline (it is
/// never kept past it, so a dead MDS holding every slot cannot starve callers beyond their own budget) and at
/// task cancellation; a slot is handed over directly on release, so none is lost. Thread-safe.
public final class MdsSlots: Sendable {
    private enum Waiter {
        /// Announced, continuation not yet installed; `cancelled` if the task was cancelled meanwhile.
        case announced(cancelled: Bool)
        case waiting(CheckedContinuation<Bool, Never>, endpoint: AgentEndpoint, timer: Scheduled<Void>?)
    }

    private struct State {
        var inUse: [AgentEndpoint: Int] = [:]
        var queues: [AgentEndpoint: [UInt64]] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
    }

    /// Attempts in flight per MDS.
    public let limit: Int
    private let state = Mutex(State())
    private let eventLoopGroup: any EventLoopGroup

    public init(limit: Int, eventLoopGroup: any EventLoopGroup) {
        self.limit = max(1, limit)
        self.eventLoopGroup = eventLoopGroup
    }

    /// Attempts currently holding a slot of `endpoint`.
    public func inUse(_ endpoint: AgentEndpoint) -> Int { state.withLock { $0.inUse[endpoint] ?? 0 } }

    /// Takes a slot of `endpoint`, waiting at most until `deadline`. Returns false when the deadline passed or the
    /// task was cancelled first (the caller then holds nothing). After `true`, call ``release(_:)`` exactly once.
    public func acquire(_ endpoint: AgentEndpoint, deadline: NIODeadline) async -> Bool {
        let limit = limit
        let id: UInt64? = state.withLock { state in
            if state.inUse[endpoint, default: 0] < limit {
                state.inUse[endpoint, default: 0] += 1
                return nil
            }
            let id = state.nextID
            state.nextID += 1
            state.waiters[id] = .announced(cancelled: false)
            state.queues[endpoint, default: []].append(id)
            return id
        }
        guard let id else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let timer = eventLoopGroup.next().scheduleTask(deadline: deadline) { [self] in
                    self.giveUp(id)
                }
                let resumeNow: Bool? = state.withLock { state in
                    switch state.waiters[id] {
                    case .announced(cancelled: false):
                        state.waiters[id] = .waiting(continuation, endpoint: endpoint, timer: timer)
                        return nil
                    case .announced(cancelled: true):
                        state.waiters[id] = nil
                        state.queues[endpoint]?.removeAll { $0 == id }
                        return false
                    case .waiting, nil:
                        // Granted by a release before the continuation was installed (see `release`).
                        state.waiters[id] = nil
                        return true
                    }
                }
                if let resumeNow {
                    timer.cancel()
                    continuation.resume(returning: resumeNow)
                }
            }
        } onCancel: {
            self.giveUp(id)
        }
    }

    /// Returns a slot: handed to the oldest waiter of `endpoint` if there is one.
    public func release(_ endpoint: AgentEndpoint) {
        let handOver: (CheckedContinuation<Bool, Never>, Scheduled<Void>?)? = state.withLock { state in
            while var queue = state.queues[endpoint], !queue.isEmpty {
                let id = queue.removeFirst()
                state.queues[endpoint] = queue
                switch state.waiters[id] {
                case .waiting(let continuation, _, let timer):
                    state.waiters[id] = nil
                    return (continuation, timer)
                case .announced(cancelled: false):
                    // The waiter has not installed its continuation yet: mark it granted (`nil` entry, see
                    // `acquire`) by removing it; the slot stays counted as in use.
                    state.waiters[id] = nil
                    return nil
                case .announced(cancelled: true), nil:
                    // Gave up before installing its continuation: `acquire` sees the mark and answers false.
                    continue
                }
            }
            state.inUse[endpoint, default: 1] -= 1
            return nil
        }
        if let (continuation, timer) = handOver {
            timer?.cancel()
            continuation.resume(returning: true)
        }
    }

    /// The waiter's deadline passed or its task was cancelled: it leaves the queue (if still in it) with `false`.
    private func giveUp(_ id: UInt64) {
        let continuation: CheckedContinuation<Bool, Never>? = state.withLock { state in
            switch state.waiters[id] {
            case .announced(cancelled: false):
                state.waiters[id] = .announced(cancelled: true)
                return nil
            case .waiting(let continuation, let endpoint, _):
                state.waiters[id] = nil
                state.queues[endpoint]?.removeAll { $0 == id }
                return continuation
            case .announced(cancelled: true), nil:
                return nil
            }
        }
        continuation?.resume(returning: false)
    }
}
