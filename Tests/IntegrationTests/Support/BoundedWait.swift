import Synchronization

/// Waits for an async operation at most `limit`, then gives up on it — even when the operation
/// never returns. Structured concurrency cannot do that (a task group waits for its children and a
/// checked continuation ignores cancellation), so the operation runs in a task of its own that is
/// left suspended if it is stuck. Only for tests that must stay bounded while the code under test
/// may leak a continuation (see the report: a publish drained with a failing command never returns).
enum BoundedWait {
    struct GaveUp: Error, CustomStringConvertible {
        let after: Duration
        var description: String { "the operation did not return within \(after)" }
    }

    static func run<T: Sendable>(within limit: Duration,
                                 _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let slot = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled { slot.resume(with: .failure(GaveUp(after: limit))) }
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                slot.resume(with: result)
                timer.cancel()
            }
        }
    }
}

/// A continuation resumed by whichever of two racers comes first; the other is ignored.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(with result: Result<T, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }
}
