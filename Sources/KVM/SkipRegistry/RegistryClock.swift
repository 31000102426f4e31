/// The skip registry's view of its injected monotonic clock: time as a `Duration` elapsed since the registry was
/// created (the same form as ``TraceRoundMark/instant``).
///
/// `Clock.Instant` is an associated type, so an `any Clock<Duration>` cannot compare its own instants; offsets from
/// one origin stay comparable while the clock stays injectable (tests pass a manual clock, production
/// `ContinuousClock`, which keeps counting across suspend and is immune to wall-clock steps).
struct RegistryClock: Sendable {
    private let elapsed: @Sendable () -> Duration
    private let sleepUntilElapsed: @Sendable (Duration) async throws -> Void

    init<C: Clock<Duration>>(_ clock: C) {
        let origin = clock.now
        elapsed = { origin.duration(to: clock.now) }
        sleepUntilElapsed = { offset in try await clock.sleep(until: origin.advanced(by: offset), tolerance: nil) }
    }

    /// Time elapsed since the origin.
    var now: Duration { elapsed() }

    /// Suspends until the clock reaches `origin + offset`; throws `CancellationError` when the task is cancelled.
    func sleep(untilOffset offset: Duration) async throws {
        try await sleepUntilElapsed(offset)
    }
}
