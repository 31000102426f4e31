import CloudBusTesting
@testable import KeyedExecution
import Testing

@Suite("KeyedSerialExecutor memory, backpressure and shutdown", .timeLimit(.minutes(1)))
struct KeyedSerialExecutorLifecycleTests {
    @Test("keys are forgotten once idle, and the key table shrinks after a burst")
    func idleKeysAreFreed() async {
        let keyCount = 10_000
        let executor = KeyedSerialExecutor<Int>(maxConcurrentJobs: 4)
        let release = Latch()
        let completions = Recorder<OutcomeKind>()

        for key in 0..<keyCount {
            await executor.submit(key: key, timeout: nil) {
                await release.wait()
            } completion: { completions.record($0.kind) }
        }
        // Nothing can finish before the release, so every key is active at once.
        #expect(executor.activeKeyCount == keyCount)
        #expect(executor.laneTableCapacity >= keyCount)

        release.open()
        await completions.waitUntil(count: keyCount)
        await executor.waitUntilIdle()
        #expect(executor.activeKeyCount == 0)
        #expect(executor.statistics == ExecutorStatistics(
            activeKeys: 0, queuedJobs: 0, runningJobs: 0, abandonedJobsRunning: 0, abandonedJobsTotal: 0))
        #expect(executor.laneTableCapacity <= 2048, "the table kept room for \(executor.laneTableCapacity) keys")
        #expect(completions.values.allSatisfy { $0 == .finished })
    }

    @Test("runners that run out of work park and take the next jobs; shutdown ends them and frees the executor")
    func runnersAreReusedUntilShutdown() async throws {
        weak var released: KeyedSerialExecutor<Int>?
        do {
            let executor = KeyedSerialExecutor<Int>(maxConcurrentJobs: 4)
            released = executor
            let completions = Recorder<OutcomeKind>()
            let release = Latch()
            for key in 0..<4 {
                await executor.submit(key: key, timeout: nil) { await release.wait() } completion: { completions.record($0.kind) }
            }
            release.open()
            await completions.waitUntil(count: 4)
            try await withinSafetyBound {
                while executor.runnerCounts.parked < 4, !Task.isCancelled { await Task.yield() }
            }
            #expect(executor.runnerCounts == (parked: 4, started: 4))
            // More rounds of work: served by the parked runners, no new task.
            for round in 0..<3 {
                for key in 0..<4 {
                    await executor.submit(key: key, timeout: nil) {} completion: { completions.record($0.kind) }
                }
                await completions.waitUntil(count: 8 + round * 4)
            }
            #expect(executor.runnerCounts.started == 4)
            #expect(completions.values.allSatisfy { $0 == .finished })
            executor.shutdown(.drain)
            #expect(executor.runnerCounts.parked == 0)
        }
        // The parked runners held the executor; once they ended nothing does.
        let bound = ContinuousClock.now + .seconds(20)  // a safety bound, nothing timed
        while released != nil, ContinuousClock.now < bound { await Task.yield() }
        #expect(released == nil)
    }

    @Test("waitUntilIdle returns when the work is done, and early when its task is cancelled")
    func waitUntilIdle() async {
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 2)
        await executor.waitUntilIdle()  // idle from the start

        let release = Latch()
        await executor.submit(key: "vm-a", timeout: nil) { await release.wait() } completion: { _ in }
        let waiter = Task {
            await executor.waitUntilIdle()
            return Task.isCancelled
        }
        waiter.cancel()
        #expect(await waiter.value == true)
        #expect(executor.activeKeyCount == 1)

        release.open()
        await executor.waitUntilIdle()
        #expect(executor.activeKeyCount == 0)
    }

    @Test("submit suspends at maxQueuedJobs; a cancelled waiting submitter is rejected without running")
    func backpressure() async {
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 1, maxQueuedJobs: 2)
        let events = Recorder<String>()
        let started = Latch()
        let release = Latch()

        await executor.submit(key: "vm-a", timeout: nil) {
            started.open()
            await release.wait()
        } completion: { events.record("a1:\($0.kind)") }
        await started.wait()
        await executor.submit(key: "vm-a", timeout: nil) {} completion: { events.record("a2:\($0.kind)") }
        await executor.submit(key: "vm-b", timeout: nil) {} completion: { events.record("b1:\($0.kind)") }
        #expect(executor.statistics.queuedJobs == 2)

        // The queue is full, so this submitter waits for space; cancelling it rejects the job.
        let cancelledSubmitter = Task {
            await executor.submit(key: "vm-c", timeout: nil) {
                events.record("c1 ran")
            } completion: { events.record("c1:\($0.kind)") }
        }
        cancelledSubmitter.cancel()
        await cancelledSubmitter.value
        #expect(events.values == ["c1:rejected"])

        // This one is admitted only when a queued job starts, which happens after a1 completes.
        let waitingSubmitter = Task {
            await executor.submit(key: "vm-d", timeout: nil) {} completion: { events.record("d1:\($0.kind)") }
            events.record("d1 submitted")
        }
        release.open()
        await waitingSubmitter.value
        await events.waitUntil(count: 6)
        let values = events.values
        #expect(Set(values) == ["c1:rejected", "a1:finished", "a2:finished", "b1:finished", "d1:finished", "d1 submitted"])
        let a1 = values.firstIndex(of: "a1:finished")
        let submitted = values.firstIndex(of: "d1 submitted")
        #expect(a1 != nil && submitted != nil && a1! < submitted!, "submit returned before queue space freed: \(values)")
    }

    @Test("shutdown(.drain) refuses new jobs and lets accepted ones finish")
    func shutdownDrain() async {
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 2)
        let outcomes = Recorder<String>()
        let started = Latch()
        let release = Latch()

        await executor.submit(key: "vm-a", timeout: nil) {
            started.open()
            await release.wait()
        } completion: { outcomes.record("a1:\($0.kind)") }
        await executor.submit(key: "vm-a", timeout: nil) {} completion: { outcomes.record("a2:\($0.kind)") }
        await started.wait()

        executor.shutdown(.drain)
        #expect(!executor.isAcceptingJobs)
        await executor.submit(key: "vm-b", timeout: nil) {} completion: { outcomes.record("b1:\($0.kind)") }
        #expect(outcomes.values == ["b1:rejected"], "the refusal is reported before submit returns")

        release.open()
        await executor.waitUntilIdle()
        #expect(outcomes.values == ["b1:rejected", "a1:finished", "a2:finished"])
    }

    @Test("submitWithoutWaiting queues in order with submit and reports a refusal before it returns")
    func submitWithoutWaiting() async {
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 2)
        #expect(executor.submitsWithoutWaiting)
        #expect(!KeyedSerialExecutor<String>(maxConcurrentJobs: 2, maxQueuedJobs: 4).submitsWithoutWaiting)
        let outcomes = Recorder<String>()
        let started = Latch()
        let release = Latch()

        await executor.submit(key: "vm-a", timeout: nil) {
            started.open()
            await release.wait()
        } completion: { outcomes.record("a1:\($0.kind)") }
        // Behind a1 on its key, from a caller that cannot suspend; and with a deadline, on another key.
        executor.submitWithoutWaiting(key: HashedKey("vm-a"), timeout: nil, {}, completion: { outcomes.record("a2:\($0.kind)") })
        await started.wait()
        executor.submitWithoutWaiting(key: HashedKey("vm-b"), timeout: .seconds(60), {},
                                      completion: { outcomes.record("b1:\($0.kind)") })
        await outcomes.waitUntil(count: 1)
        #expect(outcomes.values == ["b1:finished"])
        release.open()
        await outcomes.waitUntil(count: 3)
        #expect(outcomes.values == ["b1:finished", "a1:finished", "a2:finished"])

        executor.shutdown(.drain)
        executor.submitWithoutWaiting(key: HashedKey("vm-c"), timeout: nil, {}, completion: { outcomes.record("c1:\($0.kind)") })
        #expect(outcomes.values.last == "c1:rejected", "the refusal is reported before the call returns")
    }

    @Test("shutdown(.cancel) rejects queued jobs and cancels running ones")
    func shutdownCancel() async {
        let clock = ManualClock()
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 1, clock: clock)
        let outcomes = Recorder<String>()
        let ran = Recorder<String>()
        let started = Latch()

        await executor.submit(key: "vm-a", timeout: nil) {
            started.open()
            try await clock.sleep(for: .seconds(3600))  // ends only by cancellation
        } completion: { outcomes.record("a1:\($0.kind)") }
        await executor.submit(key: "vm-a", timeout: nil) { ran.record("a2") } completion: {
            outcomes.record("a2:\($0.kind)")
        }
        await executor.submit(key: "vm-b", timeout: nil) { ran.record("b1") } completion: {
            outcomes.record("b1:\($0.kind)")
        }
        await started.wait()

        executor.shutdown(.cancel)
        // Queued jobs are rejected before shutdown returns, and before the running job is cancelled.
        let rejected = outcomes.values.prefix(2)
        #expect(Set(rejected) == ["a2:rejected", "b1:rejected"])
        await executor.waitUntilIdle()
        #expect(outcomes.values == rejected + ["a1:threw"])
        #expect(ran.count == 0)
        #expect(executor.activeKeyCount == 0)

        executor.shutdown(.drain)  // no effect after .cancel
        await executor.submit(key: "vm-c", timeout: nil) { ran.record("c1") } completion: {
            outcomes.record("c1:\($0.kind)")
        }
        #expect(outcomes.values.last == "c1:rejected")
        #expect(ran.count == 0)
    }
}
