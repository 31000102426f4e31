import CloudBusTesting
import KeyedExecution
import Logging
import Testing

@Suite("KeyedSerialExecutor failures and deadlines", .timeLimit(.minutes(1)))
struct KeyedSerialExecutorDeadlineTests {
    private struct AgentUnreachable: Error {}

    @Test("a throwing job completes with .threw and the key runs its next job")
    func throwingJobDoesNotStopItsKey() async throws {
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 2)
        let outcomes = Recorder<(label: String, outcome: JobOutcome)>()

        await executor.submit(key: "vm-a", timeout: nil) {
            throw AgentUnreachable()
        } completion: { outcomes.record(("a1", $0)) }
        await executor.submit(key: "vm-a", timeout: nil) {} completion: { outcomes.record(("a2", $0)) }

        await outcomes.waitUntil(count: 2)
        let recorded = outcomes.values
        #expect(recorded.map(\.label) == ["a1", "a2"])
        guard case .threw(let error) = recorded[0].outcome else {
            Issue.record("expected .threw, got \(recorded[0].outcome)")
            return
        }
        #expect(error is AgentUnreachable)
        #expect(recorded[1].outcome.kind == .finished)
    }

    @Test("a job that ignores cancellation is abandoned at its deadline; its key and other keys go on")
    func hangingJobIsAbandonedAtItsDeadline() async {
        let clock = ManualClock()
        let logs = Recorder<(level: Logger.Level, message: String)>()
        let executor = KeyedSerialExecutor<String>(
            maxConcurrentJobs: 2, clock: clock, logger: RecordingLogHandler.logger(recordingInto: logs))
        let outcomes = Recorder<String>()
        let started = Latch()
        let release = Latch()
        let cancellationSeen = Recorder<Bool>()

        await executor.submit(key: "vm-a", timeout: .seconds(5)) {
            started.open()
            await release.waitIgnoringCancellation()
            cancellationSeen.record(Task.isCancelled)
        } completion: { outcomes.record("a1:\($0.kind)") }
        await executor.submit(key: "vm-a", timeout: .seconds(60)) {} completion: { outcomes.record("a2:\($0.kind)") }
        await started.wait()

        // Another key is served while vm-a hangs.
        await executor.submit(key: "vm-b", timeout: .seconds(5)) {} completion: { outcomes.record("b1:\($0.kind)") }
        await outcomes.waitUntil(count: 1)
        #expect(outcomes.values == ["b1:finished"])

        clock.advance(by: .seconds(5))
        await outcomes.waitUntil(count: 3)
        #expect(outcomes.values == ["b1:finished", "a1:deadlineExceeded", "a2:finished"])
        await executor.waitUntilIdle()
        let afterDeadline = executor.statistics
        #expect(afterDeadline.abandonedJobsRunning == 1)
        #expect(afterDeadline.abandonedJobsTotal == 1)
        #expect(afterDeadline.runningJobs == 0)
        #expect(afterDeadline.activeKeys == 0)
        #expect(logs.values.map(\.level) == [.warning])

        // The abandoned body finally returns: it was cancelled, its result is dropped, no second completion.
        release.open()
        await cancellationSeen.waitUntil(count: 1)
        #expect(cancellationSeen.values == [true])
        await logs.waitUntil(count: 2)
        #expect(logs.values.map(\.level) == [.warning, .notice])
        let afterReturn = executor.statistics
        #expect(afterReturn.abandonedJobsRunning == 0)
        #expect(afterReturn.abandonedJobsTotal == 1)
        #expect(outcomes.values == ["b1:finished", "a1:deadlineExceeded", "a2:finished"])
    }

    @Test("an abandoned runner that returns late leaves the runner now in its slot alone")
    func abandonedRunnerReturningLateKeepsToItself() async {
        let clock = ManualClock()
        let logs = Recorder<(level: Logger.Level, message: String)>()
        // One slot: the runner after the abandoned one takes the abandoned one's runner id.
        let executor = KeyedSerialExecutor<String>(
            maxConcurrentJobs: 1, clock: clock, logger: RecordingLogHandler.logger(recordingInto: logs))
        let outcomes = Recorder<String>()
        let (aStarted, releaseA, bStarted, releaseB) = (Latch(), Latch(), Latch(), Latch())

        await executor.submit(key: "vm-a", timeout: .seconds(5)) {
            aStarted.open()
            await releaseA.waitIgnoringCancellation()
        } completion: { outcomes.record("a1:\($0.kind)") }
        await aStarted.wait()
        clock.advance(by: .seconds(5))
        await outcomes.waitUntil(count: 1)

        // A timed job on the fresh runner, still running when the abandoned body returns.
        await executor.submit(key: "vm-b", timeout: .seconds(60)) {
            bStarted.open()
            await releaseB.waitIgnoringCancellation()
        } completion: { outcomes.record("b1:\($0.kind)") }
        await bStarted.wait()
        releaseA.open()
        await logs.waitUntil(count: 2)  // the abandonment's warning, the late return's notice
        #expect(executor.statistics.abandonedJobsRunning == 0)
        #expect(executor.statistics.runningJobs == 1)

        // The late return took nothing from vm-b's runner: its outcome is its own, reported once.
        releaseB.open()
        await outcomes.waitUntil(count: 2)
        await executor.waitUntilIdle()
        #expect(outcomes.values == ["a1:deadlineExceeded", "b1:finished"])
        #expect(logs.values.map(\.level) == [.warning, .notice])
        #expect(executor.statistics.activeKeys == 0)
    }

    @Test("a job that honours cancellation is cancelled at its deadline and reported once")
    func cooperativeJobIsCancelledAtItsDeadline() async {
        let clock = ManualClock()
        let logs = Recorder<(level: Logger.Level, message: String)>()
        let executor = KeyedSerialExecutor<String>(
            maxConcurrentJobs: 1, clock: clock, logger: RecordingLogHandler.logger(recordingInto: logs))
        let outcomes = Recorder<String>()
        let bodyErrors = Recorder<String>()
        let started = Latch()

        await executor.submit(key: "vm-a", timeout: .seconds(30)) {
            started.open()
            do {
                try await clock.sleep(for: .seconds(3600))
            } catch {
                bodyErrors.record("\(type(of: error))")
                throw error
            }
        } completion: { outcomes.record("a1:\($0.kind)") }
        await started.wait()
        clock.advance(by: .seconds(30))

        await logs.waitUntil(count: 2)  // the deadline warning, then the notice when the body has returned
        #expect(outcomes.values == ["a1:deadlineExceeded"])
        #expect(bodyErrors.values == ["CancellationError"])
        #expect(executor.statistics.abandonedJobsRunning == 0)
        #expect(executor.statistics.abandonedJobsTotal == 1)
    }

    @Test("a job that finished before its deadline is not reported again when the deadline passes")
    func jobFinishingInTimeIsNotReportedAgain() async {
        let clock = ManualClock()
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 2, clock: clock)
        let outcomes = Recorder<String>()
        let started = Latch()
        let release = Latch()

        await executor.submit(key: "vm-a", timeout: .seconds(5)) {} completion: { outcomes.record("a1:\($0.kind)") }
        await outcomes.waitUntil(count: 1)
        await executor.submit(key: "vm-b", timeout: .seconds(10)) {
            started.open()
            await release.wait()
        } completion: { outcomes.record("b1:\($0.kind)") }
        await started.wait()

        // One deadline pass sees both a1's deadline (long finished) and b1's (still running).
        clock.advance(by: .seconds(10))
        await outcomes.waitUntil(count: 2)
        // Keys are released only after every outcome of that pass has been reported.
        await executor.waitUntilIdle()
        #expect(outcomes.values == ["a1:finished", "b1:deadlineExceeded"])
        #expect(executor.statistics.abandonedJobsTotal == 1)
        release.open()
    }

    @Test("a job whose deadline passes while it waits its turn never runs")
    func jobExpiringInQueueIsNotRun() async {
        let clock = ManualClock()
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 4, clock: clock)
        let outcomes = Recorder<String>()
        let ran = Recorder<String>()
        let started = Latch()
        let release = Latch()

        await executor.submit(key: "vm-a", timeout: nil) {
            started.open()
            await release.waitIgnoringCancellation()
        } completion: { outcomes.record("a1:\($0.kind)") }
        await executor.submit(key: "vm-a", timeout: .seconds(1)) {
            ran.record("a2")
        } completion: { outcomes.record("a2:\($0.kind)") }
        await executor.submit(key: "vm-a", timeout: .seconds(10)) {
            ran.record("a3")
        } completion: { outcomes.record("a3:\($0.kind)") }
        await started.wait()

        clock.advance(by: .seconds(2))
        release.open()
        await outcomes.waitUntil(count: 3)
        // a2 is reported by the watchdog at its deadline or by the runner when its turn comes, whichever is first —
        // exactly once, and it never runs. Its report is not ordered against a1's and a3's (the watchdog reports
        // outside the lock, while the key goes on): that is the documented exception for jobs expiring in the queue.
        #expect(outcomes.values.sorted() == ["a1:finished", "a2:expiredBeforeStart", "a3:finished"])
        #expect(outcomes.values.firstIndex(of: "a1:finished")! < outcomes.values.firstIndex(of: "a3:finished")!)
        #expect(ran.values == ["a3"])
    }

    @Test("a zero timeout expires before the job can start")
    func zeroTimeoutExpiresBeforeStart() async {
        let clock = ManualClock()
        let executor = KeyedSerialExecutor<Int>(maxConcurrentJobs: 1, clock: clock)
        let outcomes = Recorder<OutcomeKind>()
        let ran = Recorder<Int>()

        await executor.submit(key: 1, timeout: .zero) { ran.record(1) } completion: { outcomes.record($0.kind) }
        await outcomes.waitUntil(count: 1)
        #expect(outcomes.values == [.expiredBeforeStart])
        #expect(ran.count == 0)
    }

    @Test("a job waiting behind a hung job is reported expiredBeforeStart at its own deadline, not when its turn comes")
    func queuedJobExpiresAtItsDeadline() async {
        let clock = ManualClock()
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 2, clock: clock)
        let outcomes = Recorder<String>()
        let release = await Self.hang(executor, key: "vm-a", outcomes: outcomes)
        await executor.submit(key: "vm-a", timeout: .seconds(3)) {} completion: { outcomes.record("a2:\($0.kind)") }
        await executor.submit(key: "vm-a", timeout: .seconds(30)) {} completion: { outcomes.record("a3:\($0.kind)") }
        #expect(executor.queueDepth(for: "vm-a") == 2)

        clock.advance(by: .seconds(3))
        await outcomes.waitUntil(count: 1)
        #expect(outcomes.values == ["a2:expiredBeforeStart"], "reported while a1 still hangs")
        #expect(executor.queueDepth(for: "vm-a") == 1)
        #expect(executor.statistics.queuedJobs == 1)

        release.open()
        await outcomes.waitUntil(count: 3)
        #expect(outcomes.values == ["a2:expiredBeforeStart", "a1:finished", "a3:finished"])
        await executor.waitUntilIdle()
        #expect(executor.activeKeyCount == 0)
    }

    @Test("a ready key whose every queued job expired is dropped, and the other keys are served")
    func readyKeyEmptiedByExpiry() async {
        let clock = ManualClock()
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 1, clock: clock)
        let outcomes = Recorder<String>()
        // One slot: vm-b's job waits, ready, behind vm-a's running job; its deadline passes first.
        let release = await Self.hang(executor, key: "vm-a", outcomes: outcomes)
        await executor.submit(key: "vm-b", timeout: .seconds(2)) {} completion: { outcomes.record("b1:\($0.kind)") }
        await executor.submit(key: "vm-c", timeout: nil) {} completion: { outcomes.record("c1:\($0.kind)") }
        clock.advance(by: .seconds(2))
        await outcomes.waitUntil(count: 1)
        #expect(outcomes.values == ["b1:expiredBeforeStart"])

        release.open()
        await outcomes.waitUntil(count: 3)
        #expect(outcomes.values == ["b1:expiredBeforeStart", "a1:finished", "c1:finished"])
        await executor.waitUntilIdle()
        #expect(executor.activeKeyCount == 0)
    }

    /// Starts a job on `key` that ignores cancellation and runs until the returned latch opens (recorded "a1").
    private static func hang(
        _ executor: KeyedSerialExecutor<String>, key: String, outcomes: Recorder<String>
    ) async -> Latch {
        let started = Latch()
        let release = Latch()
        await executor.submit(key: key, timeout: nil) {
            started.open()
            await release.waitIgnoringCancellation()
        } completion: { outcomes.record("a1:\($0.kind)") }
        await started.wait()
        return release
    }
}
