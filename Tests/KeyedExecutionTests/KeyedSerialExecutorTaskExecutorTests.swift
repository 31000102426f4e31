import Dispatch
import KeyedExecution
import Synchronization
import Testing

/// The worker hands its executor the consuming connection's owner thread; any `TaskExecutor` stands in for it here.
@Suite("KeyedSerialExecutor on a preferred task executor", .timeLimit(.minutes(1)))
struct KeyedSerialExecutorTaskExecutorTests {
    /// Runs every job on one serial dispatch queue it can recognise, and counts them.
    final class QueueExecutor: TaskExecutor, Sendable {
        static let marker = DispatchSpecificKey<Int>()
        let queue = DispatchQueue(label: "test.preferred-executor")
        let enqueued = Atomic<Int>(0)

        init() { queue.setSpecific(key: Self.marker, value: 1) }

        func enqueue(_ job: consuming ExecutorJob) {
            enqueued.add(1, ordering: .relaxed)
            let job = UnownedJob(job)
            queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }

        static var isCurrent: Bool { DispatchQueue.getSpecific(key: marker) == 1 }
    }

    @Test("jobs and completions of every key run on the given executor, still in order per key")
    func jobsRunOnThePreferredExecutor() async {
        let preferred = QueueExecutor()
        let executor = KeyedSerialExecutor<String>(maxConcurrentJobs: 4, taskExecutor: preferred)
        let placements = Recorder<(job: String, onPreferred: Bool)>()
        let completions = Recorder<Bool>()
        for index in 0..<20 {
            let key = "vm-\(index % 3)"
            await executor.submit(key: key, timeout: nil) {
                // A suspension in the middle: the job comes back to the preferred executor after it.
                await Task.yield()
                placements.record(("\(key)#\(index)", QueueExecutor.isCurrent))
            } completion: { _ in completions.record(QueueExecutor.isCurrent) }
        }
        await completions.waitUntil(count: 20)
        #expect(placements.values.allSatisfy { $0.onPreferred })
        #expect(completions.values.allSatisfy { $0 })
        #expect(preferred.enqueued.load(ordering: .relaxed) >= 20)
        for key in 0..<3 {
            let order = placements.values.map(\.job).filter { $0.hasPrefix("vm-\(key)#") }
            #expect(order == (0..<20).filter { $0 % 3 == key }.map { "vm-\(key)#\($0)" })
        }
    }
}
