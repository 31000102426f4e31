import Foundation

/// Runs blocking work (a child process waited for, a pipe read to its end) on a thread of its own and returns its
/// result to the awaiting task.
///
/// Done on the cooperative pool, such work holds one of its threads (two on this machine) for as long as it blocks:
/// two tests running a subprocess at once stall every other test of the process, whose own bounds then expire.
public func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
