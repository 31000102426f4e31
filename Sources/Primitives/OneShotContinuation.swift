/// A continuation that its owner resumes exactly once, on a path every message takes (a publish's confirm, an
/// answer's journal commit).
///
/// Checked in debug builds — the tests run those, and catch a resume that is missing or repeated — and unchecked in
/// release builds: `CheckedContinuation` allocates a canary object per suspension, two of an echo's allocations.
#if DEBUG
public typealias OneShotContinuation<T> = CheckedContinuation<T, Never>
#else
public typealias OneShotContinuation<T> = UnsafeContinuation<T, Never>
#endif

/// Suspends until `body`'s continuation is resumed: `withCheckedContinuation` in debug builds,
/// `withUnsafeContinuation` in release builds (see ``OneShotContinuation``).
@inlinable
public func withOneShotContinuation<T>(
    isolation: isolated (any Actor)? = #isolation, _ body: (OneShotContinuation<T>) -> Void
) async -> sending T {
    #if DEBUG
    await withCheckedContinuation(isolation: isolation, body)
    #else
    await withUnsafeContinuation(isolation: isolation, body)
    #endif
}
