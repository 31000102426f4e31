/// Fails the test instead of hanging when `body` does not finish within `limit` of real time (a safety bound for
/// barrier-driven tests; nothing is asserted about how long the body takes).
public func withinSafetyBound<T: Sendable>(
    _ limit: Duration = .seconds(20), _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw BoundExceeded(limit: limit)
        }
        return value
    }
}

public struct BoundExceeded: Error, CustomStringConvertible {
    /// The bound that passed.
    public let limit: Duration

    public init(limit: Duration) { self.limit = limit }

    public var description: String { "the test's safety bound (\(limit)) passed before the awaited step happened" }
}
