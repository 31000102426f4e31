import CloudBus
import Foundation
import Inventory
@testable import KVM
import Logging
import Synchronization
import Testing

/// A clock that moves only when the test calls `advance(by:)`, so TTL and cleanup tests never depend on real time.
/// `sleep(until:)` returns at once for an instant already reached, otherwise suspends until an `advance` reaches
/// it; a cancelled sleeper throws `CancellationError` right away and is forgotten.
final class RegistryTestClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }
    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                state.withLock { state in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else if deadline <= state.now {
                        continuation.resume()
                    } else {
                        state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    }
                }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    func advance(by duration: Duration) {
        let due = state.withLock { state in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let ids = state.sleepers.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { state.sleepers.removeValue(forKey: $0)?.continuation }
        }
        for continuation in due { continuation.resume() }
    }
}

/// A wall clock in epoch milliseconds that the test moves by hand.
final class RegistryTestWallClock: Sendable {
    private let millis: Mutex<Int64>
    init(_ start: Int64 = 1_764_000_000_000) { millis = Mutex(start) }
    func now() -> Int64 { millis.withLock { $0 } }
    func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        millis.withLock { $0 += seconds * 1000 + attoseconds / 1_000_000_000_000_000 }
    }
}

/// Counts what the registry counts, for assertions.
final class RegistryTestCounters: CounterSink {
    private let counts = Mutex<[String: Int]>([:])
    func increment(_ name: String, by amount: Int) { counts.withLock { $0[name, default: 0] += amount } }
    subscript(name: String) -> Int { counts.withLock { $0[name] ?? 0 } }
}

enum SkipFixture {
    static let nodeX = "11111111111111111111111111111111"
    static let nodeY = "22222222222222222222222222222222"
    static let own = "99999999999999999999999999999999"
    static let quietLogger = Logger(label: "skip-registry-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    static func vm(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        return "b" + String(repeating: "0", count: 31 - hex.count) + hex
    }

    static func timeout(seconds: Int64 = 600) -> LiveSetting<Duration> {
        SkipRegistry.timeoutSetting(default: seconds)
    }

    static func registry(
        clock: RegistryTestClock, timeout: LiveSetting<Duration> = timeout(), store: (any SkipEntryStore)? = nil,
        wall: RegistryTestWallClock = RegistryTestWallClock(), counters: any CounterSink = DiscardingCounters(),
        probe: SkipRegistryProbe = SkipRegistryProbe(), roundLogCapacity: Int = SkipRegistry.defaultRoundLogCapacity
    ) -> SkipRegistry {
        SkipRegistry(
            ownNode: own, timeout: timeout, store: store, clock: clock, wallClock: { wall.now() }, counters: counters,
            logger: quietLogger, probe: probe, roundLogCapacity: roundLogCapacity)
    }

    static func skip(_ vm: String, from node: String, apiId: String? = nil) -> VmSkipTraceData {
        VmSkipTraceData(vmUuid: vm, apiId: apiId, msgName: "org.zstack.header.vm.StartVmInstanceMsg",
                        managementNodeId: node)
    }

    static func proceed(_ vm: String?, from node: String, apiId: String? = nil) -> VmContinueTraceData {
        VmContinueTraceData(vmUuid: vm, apiId: apiId, managementNodeId: node)
    }
}

/// Fails the test instead of hanging when `body` does not finish within `limit` of real time (a safety bound for
/// barrier-driven tests; nothing is asserted about how long the body takes).
func withinSafetyBound<T: Sendable>(
    _ limit: Duration = .seconds(20), _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw BoundExceeded()
        }
        return value
    }
}

struct BoundExceeded: Error, CustomStringConvertible {
    var description: String { "the test's safety bound passed before the awaited step happened" }
}

/// A one-shot signal between a test and a probe closure.
final class RegistrySignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: Void.self) }

    func fire() { continuation.yield() }

    func wait() async {
        var iterator = stream.makeAsyncIterator()
        _ = await iterator.next()
    }
}
