import Benchmark
import BenchmarkSupport
import KeyedExecution
import Synchronization

// One iteration submits 1,000 trivial jobs over 100 keys (10 per key) to a fresh executor and waits until every
// completion has run; the tool divides by the scaling factor, so the figures are per job. What is measured is the
// executor's own cost: admission, the per-key queues, runner hand-off and the completion call.

/// Keys as the worker uses them (resource uuids are strings); built once so the loop does not format strings.
let keys: [String] = (0..<100).map { "resource-\($0)" }

/// Counts completions, so an iteration that lost one fails instead of reporting a figure for less work.
final class CompletionCounter: Sendable {
    let value = Atomic<Int>(0)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark(
        "KeyedSerialExecutor submit+complete (100 keys)",
        configuration: .init(
            metrics: standardMetrics,
            scalingFactor: .kilo,
            maxDuration: .seconds(2)
        )
    ) { benchmark in
        let jobs = benchmark.scaledIterations.count
        // The worker sizes the executor by its AMQP prefetch; 256 is the worker's default.
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 256)
        let completed = CompletionCounter()
        benchmark.startMeasurement()
        let cpuStart = processCPUNanoseconds()
        for index in 0..<jobs {
            await executor.submit(key: keys[index % keys.count], timeout: nil) {
                // A trivial body: the job's own work is not what is measured.
            } completion: { _ in
                completed.value.add(1, ordering: .relaxed)
            }
        }
        await executor.waitUntilIdle()
        let cpuUsed = processCPUNanoseconds() - cpuStart
        benchmark.stopMeasurement()
        benchmark.measurement(.processCPU, cpuUsed)
        let count = completed.value.load(ordering: .relaxed)
        precondition(count == jobs, "\(count) of \(jobs) completions ran before the executor was idle")
        executor.shutdown()
    }
}
