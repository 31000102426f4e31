import Synchronization

/// Tracks, from inside job bodies, how many jobs run at once (per key and overall) and the order in which each key's
/// jobs started, so tests can check serial-per-key, FIFO-per-key and the concurrency bound from the jobs' own view.
final class ConcurrencyProbe: Sendable {
    private struct State {
        var runningPerKey: [Int: Int] = [:]
        var running = 0
        var maxRunning = 0
        var overlaps = 0
        var startOrder: [Int: [Int]] = [:]
    }

    private let state = Mutex(State())

    func enter(key: Int, job: Int) {
        state.withLock { state in
            state.runningPerKey[key, default: 0] += 1
            if state.runningPerKey[key]! > 1 {
                state.overlaps += 1
            }
            state.running += 1
            state.maxRunning = max(state.maxRunning, state.running)
            state.startOrder[key, default: []].append(job)
        }
    }

    func exit(key: Int) {
        state.withLock { state in
            state.runningPerKey[key, default: 0] -= 1
            state.running -= 1
        }
    }

    /// Times a job started while another job of the same key was running.
    var overlaps: Int { state.withLock { $0.overlaps } }
    /// The most jobs seen running at once across all keys.
    var maxRunning: Int { state.withLock { $0.maxRunning } }
    /// Job numbers per key, in the order they started.
    var startOrder: [Int: [Int]] { state.withLock { $0.startOrder } }
}
