/// The executor's view of its injected clock: time as a `Duration` elapsed since the executor was created.
///
/// `Clock.Instant` is an associated type, so an `any Clock<Duration>` cannot compare its own instants. Measuring
/// everything as an offset from one origin instant keeps deadlines concrete (`Duration`) and comparable while the
/// clock stays injectable (tests pass a manual clock; production uses `ContinuousClock`).
struct ElapsedClock: Sendable {
    private let elapsedSinceOrigin: @Sendable () -> Duration
    private let sleepUntilElapsed: @Sendable (Duration) async throws -> Void

    init<C: Clock<Duration>>(_ clock: C) {
        let origin = clock.now
        elapsedSinceOrigin = { origin.duration(to: clock.now) }
        sleepUntilElapsed = { offset in
            try await clock.sleep(until: origin.advanced(by: offset), tolerance: nil)
        }
    }

    /// Time elapsed on the injected clock since the origin.
    var now: Duration { elapsedSinceOrigin() }

    /// Suspends until the injected clock reaches `origin + offset`. Throws `CancellationError` (or whatever the
    /// clock throws) when the calling task is cancelled first.
    func sleep(untilOffset offset: Duration) async throws {
        try await sleepUntilElapsed(offset)
    }
}
