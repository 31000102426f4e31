import KeyedExecution
import PropertyBased
import Testing

@Suite("KeyedSerialExecutor ordering and concurrency", .timeLimit(.minutes(1)))
struct KeyedSerialExecutorOrderingTests {
    private struct TestError: Error {}

    @Test("random interleavings: each key runs its jobs one at a time, in submission order")
    func perKeyOrderFollowsSubmissionOrder() async {
        // Per job: key, yields inside the job, yields of the submitter after submitting, whether the job throws.
        let jobs = zip(Gen.int(in: 0...4), Gen.int(in: 0...3), Gen.int(in: 0...2), Gen.bool(0.15)).array(of: 1...80)
        await propertyCheck(count: 100, input: jobs, Gen.int(in: 1...4)) { specs, maxConcurrentJobs in
            let executor = KeyedSerialExecutor<Int>(maxConcurrentJobs: maxConcurrentJobs)
            let probe = ConcurrencyProbe()
            let completions = Recorder<(key: Int, job: Int, kind: OutcomeKind)>()

            for (job, (key, jobYields, submitterYields, throwsError)) in specs.enumerated() {
                await executor.submit(key: key, timeout: nil) {
                    probe.enter(key: key, job: job)
                    defer { probe.exit(key: key) }
                    for _ in 0..<jobYields {
                        await Task.yield()
                    }
                    if throwsError {
                        throw TestError()
                    }
                } completion: { outcome in
                    completions.record((key, job, outcome.kind))
                }
                for _ in 0..<submitterYields {
                    await Task.yield()
                }
            }
            await completions.waitUntil(count: specs.count)
            await executor.waitUntilIdle()

            var submitted: [Int: [Int]] = [:]
            for (job, spec) in specs.enumerated() {
                submitted[spec.0, default: []].append(job)
            }
            var completed: [Int: [Int]] = [:]
            for completion in completions.values {
                completed[completion.key, default: []].append(completion.job)
            }
            #expect(probe.startOrder == submitted, "jobs of a key must start in submission order")
            #expect(completed == submitted, "completions of a key must come in submission order")
            #expect(probe.overlaps == 0, "two jobs of one key ran at once")
            #expect(probe.maxRunning <= maxConcurrentJobs)
            let expectedKinds = specs.map { $0.3 ? OutcomeKind.threw : .finished }
            let kindsByJob = Dictionary(uniqueKeysWithValues: completions.values.map { ($0.job, $0.kind) })
            #expect(specs.indices.map { kindsByJob[$0] } == expectedKinds)
            #expect(executor.activeKeyCount == 0)
        }
    }

    @Test("a job blocked on one key does not hold up another key")
    func blockedKeyDoesNotBlockOtherKeys() async {
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 2)
        let release = Latch()
        let started = Latch()
        let outcomes = Recorder<String>()

        await executor.submit(key: "vm-a", timeout: nil) {
            started.open()
            await release.wait()
        } completion: { outcomes.record("a1:\($0.kind)") }
        await started.wait()
        for index in 1...3 {
            await executor.submit(key: "vm-b", timeout: nil) {} completion: { outcomes.record("b\(index):\($0.kind)") }
        }

        // Returns only if vm-b's jobs complete while vm-a's job is still blocked.
        await outcomes.waitUntil(count: 3)
        #expect(outcomes.values == ["b1:finished", "b2:finished", "b3:finished"])
        #expect(executor.statistics.runningJobs == 1)

        release.open()
        await outcomes.waitUntil(count: 4)
        #expect(outcomes.values.last == "a1:finished")
    }

    @Test("never more than maxConcurrentJobs bodies run at once")
    func maxConcurrentJobsIsRespected() async {
        let executor = KeyedSerialExecutor<Int>(maxConcurrentJobs: 3)
        let probe = ConcurrencyProbe()
        let release = Latch()
        let started = Recorder<Int>()
        let outcomes = Recorder<OutcomeKind>()

        // Ten keys whose first job blocks: exactly three may start.
        for key in 0..<10 {
            await executor.submit(key: key, timeout: nil) {
                probe.enter(key: key, job: 0)
                defer { probe.exit(key: key) }
                started.record(key)
                await release.wait()
            } completion: { outcomes.record($0.kind) }
        }
        await started.waitUntil(count: 3)
        let blocked = executor.statistics
        #expect(blocked.runningJobs == 3)
        #expect(blocked.queuedJobs == 7)
        #expect(blocked.activeKeys == 10)
        #expect(started.count == 3)

        // Then a busy mix across twenty keys, with suspension points inside every job.
        for job in 1...200 {
            let key = job % 20
            await executor.submit(key: key, timeout: nil) {
                probe.enter(key: key, job: job)
                defer { probe.exit(key: key) }
                for _ in 0..<(job % 4) {
                    await Task.yield()
                }
            } completion: { outcomes.record($0.kind) }
        }
        release.open()
        await outcomes.waitUntil(count: 210)
        #expect(probe.maxRunning <= 3)
        #expect(probe.maxRunning == 3, "the blocked phase alone ran three jobs at once")
        #expect(probe.overlaps == 0)
        #expect(outcomes.values.allSatisfy { $0 == .finished })
    }

    @Test("ready keys are served round robin, so one busy key cannot starve the others")
    func readyKeysAreServedRoundRobin() async {
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 1)
        let release = Latch()
        let started = Latch()
        let order = Recorder<String>()

        await executor.submit(key: "gate", timeout: nil) {
            started.open()
            await release.wait()
        } completion: { _ in }
        await started.wait()
        for index in 1...3 {
            await executor.submit(key: "a", timeout: nil) { order.record("a\(index)") } completion: { _ in }
        }
        for index in 1...3 {
            await executor.submit(key: "b", timeout: nil) { order.record("b\(index)") } completion: { _ in }
        }
        #expect(executor.queueDepth(for: "a") == 3)
        #expect(executor.queueDepth(for: "b") == 3)
        #expect(executor.queueDepth(for: "idle") == 0)

        release.open()
        await order.waitUntil(count: 6)
        #expect(order.values == ["a1", "b1", "a2", "b2", "a3", "b3"])
    }
}
