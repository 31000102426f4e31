import Synchronization

/// Drains a stream in the background so tests can wait for the next element with a bound:
/// a missing message fails the test instead of hanging it.
public final class StreamCollector<Element: Sendable>: Sendable {
    private let buffer: Buffer

    private final class Buffer: Sendable {
        let items = Mutex<[Element]>([])
    }
    private let task: Task<Void, Never>

    public init(_ stream: some AsyncSequence<Element, Never> & Sendable) {
        let buffer = Buffer()
        self.buffer = buffer
        task = Task {
            for await element in stream { buffer.items.withLock { $0.append(element) } }
        }
    }

    deinit { task.cancel() }

    /// The next element, or nil when none arrived within `limit`.
    public func next(within limit: Duration = .seconds(20)) async -> Element? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let element = buffer.items.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return element }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }
}
