import KVM
import Synchronization

/// Counts what the code under test counts, for assertions.
final class RecordingCounters: CounterSink {
    private let counts = Mutex<[String: Int]>([:])
    func increment(_ name: String, by amount: Int) { counts.withLock { $0[name, default: 0] += amount } }
    subscript(_ name: String) -> Int { counts.withLock { $0[name] ?? 0 } }
    subscript(name name: String) -> Int { counts.withLock { $0[name] ?? 0 } }
    var all: [String: Int] { counts.withLock { $0 } }
}
