import CloudBus
import CloudBusTesting
import Foundation
import Inventory
@testable import KVM
import KVMMessages
import LiveSettings
import Logging
import Metrics
import Primitives
import Synchronization
import Testing

/// A wall clock in epoch milliseconds that the test moves by hand: the store's clock (`SQLiteInventory(clock:)`).
final class RegistryTestWallClock: Sendable {
    private let millis: Mutex<Int64>
    init(_ start: Int64 = 1_764_000_000_000) { millis = Mutex(start) }
    func now() -> Int64 { millis.withLock { $0 } }
    func advance(by duration: Duration) {
        millis.withLock { $0 += duration.inMilliseconds }
    }
}

enum SkipFixture {
    static let nodeX = "11111111111111111111111111111111"
    static let nodeY = "22222222222222222222222222222222"
    static let own = "99999999999999999999999999999999"

    static func vm(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        return "b" + String(repeating: "0", count: 31 - hex.count) + hex
    }

    static func timeout(seconds: Int64 = 600) -> LiveSetting<Duration> {
        SkipRegistry.timeoutSetting(default: seconds)
    }

    static func registry(
        clock: ManualClock, timeout: LiveSetting<Duration> = timeout(), store: (any SkipEntryStore)? = nil,
        sharesStore: Bool = false, metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        probe: SkipRegistryProbe = SkipRegistryProbe(), roundLogCapacity: Int = SkipRegistry.defaultRoundLogCapacity
    ) -> SkipRegistry {
        SkipRegistry(
            ownNode: own, timeout: timeout, store: store, sharesStore: sharesStore, clock: clock, metrics: metrics,
            logger: Logger.quiet, probe: probe, roundLogCapacity: roundLogCapacity)
    }

    static func skip(_ vm: String, from node: String, apiId: String? = nil) -> VmSkipTraceData {
        VmSkipTraceData(vmUuid: vm, apiId: apiId, msgName: "org.zstack.header.vm.StartVmInstanceMsg",
                        managementNodeId: node)
    }

    static func proceed(_ vm: String?, from node: String, apiId: String? = nil) -> VmContinueTraceData {
        VmContinueTraceData(vmUuid: vm, apiId: apiId, managementNodeId: node)
    }
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
