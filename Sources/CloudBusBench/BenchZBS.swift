import AgentHTTP
import ArgumentParser
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import Logging
import Primitives
import ZBS

/// `bench zbs`: what the MDS failure memory buys, and what a ZBS call costs the worker.
///
/// 1. Dead MDS: three fake MDS on 127.0.0.1, A accepting and never answering `/volume/clients`. The first call
///    (drawing A first) pays one attempt deadline; the following calls (random order, failure memory on) should
///    fail over at once (target p99 < 50 ms). Baseline: the original rule (no memory), the same calls with the
///    memory disabled, bounded in count: every call that draws A first pays a whole deadline again.
/// 2. Overhead: all MDS healthy; a ZBS call (inventory read, path conversion, MDS caller, JSON) against a bare
///    HTTP round trip to the same fake on the same path (target: < 200 µs more), sync and async protocols.
struct BenchZBS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zbs", abstract: "MDS failover latency with and without the failure memory; per-call overhead.")

    @Option(help: "Attempt deadline in seconds (the issue's value is 30; shorten for a quick run).")
    var attemptTimeout: Double = 30

    @Option(help: "Calls measured after the first one, failure memory on.")
    var followingCalls: Int = 300

    @Option(help: "Calls of the no-memory baseline (each drawing the dead MDS first pays a whole deadline).")
    var baselineCalls: Int = 6

    @Option(help: "Calls per overhead measurement (after 200 warm-up calls).")
    var overheadCalls: Int = 3000

    func run() async throws {
        let logger = Logger(label: "bench-zbs", factory: { _ in SwiftLogNoOpLogHandler() })
        let server = try await CallbackServer.start(logger: logger)
        var fakes: [FakeMDSAgent] = []
        for _ in 0..<3 { fakes.append(try await FakeMDSAgent.start(configuration: .init(physicalPools: ["lp": "pp"]))) }
        let agentCaller = AgentCaller(client: AgentHTTPClient(), callbackServer: server)
        let endpoints = Dictionary(uniqueKeysWithValues: zip(["mds-a", "mds-b", "mds-c"], fakes.map(\.endpoint)))
        let storage = ZbsPrimaryStorageRecord(
            uuid: "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0",
            mds: ["mds-a", "mds-b", "mds-c"].map { MdsRecord(addr: $0, status: .connected) },
            logicalPools: [ZbsLogicalPool(logicalPoolName: "lp", physicalPoolName: "pp")])
        let inventory = try SQLiteInventory.inMemory()
        try await inventory.upsertZbsPrimaryStorages([storage])
        let deadline = Duration.milliseconds(Int(attemptTimeout * 1000))
        func caller(memory: Duration, shuffle: MdsShuffle) -> MdsCaller {
            MdsCaller(
                caller: agentCaller,
                settings: MdsCallSettings(connectTimeout: min(deadline, .seconds(30)), attemptTimeout: deadline),
                memory: MdsFailureMemory(window: memory), shuffle: shuffle,
                endpointOf: { endpoints[$0.addr]! }, logger: logger)
        }
        let clients = MdsCallOptions(path: "/volume/clients", sync: true, tryNext: true)
        let command: [String: JSONValue] = ["path": "cbd:pp/lp/vol"]

        print("bench zbs: 3 fake MDS on 127.0.0.1, attempt deadline \(attemptTimeout) s, A accepts and never answers")
        fakes[0].setBehaviour(.neverAnswer, for: "/volume/clients")

        // 1a. With the memory: the first call draws A first (configured order), the rest are shuffled.
        let memory = MdsFailureMemory(window: .seconds(60))
        let firstCaller = MdsCaller(
            caller: agentCaller, settings: MdsCallSettings(attemptTimeout: deadline), memory: memory,
            shuffle: .configuredOrder, endpointOf: { endpoints[$0.addr]! }, logger: logger)
        let firstStart = ContinuousClock.now
        _ = try await firstCaller.call(storage, command: command, options: clients)
        let first = ContinuousClock.now - firstStart
        let following = MdsCaller(
            caller: agentCaller, settings: MdsCallSettings(attemptTimeout: deadline), memory: memory, shuffle: .system,
            endpointOf: { endpoints[$0.addr]! }, logger: logger)
        var withMemory: [Duration] = []
        for _ in 0..<followingCalls {
            let start = ContinuousClock.now
            _ = try await following.call(storage, command: command, options: clients)
            withMemory.append(ContinuousClock.now - start)
        }
        print(String(format: "  first call (draws A first): %.3f s (≈ one deadline)", first.inSeconds))
        print("  following \(followingCalls) calls, memory on:  \(Self.percentiles(withMemory))  target p99 < 50 ms")

        // 1b. Baseline, the original rule: no memory, random order.
        let original = caller(memory: .zero, shuffle: .system)
        var withoutMemory: [Duration] = []
        for _ in 0..<baselineCalls {
            let start = ContinuousClock.now
            _ = try await original.call(storage, command: command, options: clients)
            withoutMemory.append(ContinuousClock.now - start)
        }
        let paid = withoutMemory.filter { $0 >= deadline }.count
        print("  baseline \(baselineCalls) calls, no memory:   \(Self.percentiles(withoutMemory));"
            + " \(paid) paid a whole deadline (expected 1 in 3 calls)")

        // 2. Overhead with every MDS healthy.
        fakes[0].setBehaviour(nil, for: "/volume/clients")
        let calls = ZbsStorageCalls(storages: inventory, caller: caller(memory: .seconds(60), shuffle: .configuredOrder))
        let body = try JSONValue.object(command.merging(["uuid": .string(storage.uuid), "addr": "mds-a"]) { $1 }).jsonData()
        let rootPath = "/zbs/primarystorage"
        let sync = try await Self.compare(
            count: overheadCalls,
            worker: {
                _ = try await calls.activeClients(primaryStorageUuid: storage.uuid, installPath: "zbs://lp/vol")
            },
            bare: {
                _ = try await agentCaller.callSync(
                    fakes[0].endpoint, path: rootPath + "/volume/clients", body: body, timeout: .seconds(5))
            })
        let async = try await Self.compare(
            count: overheadCalls,
            worker: {
                _ = try await calls.queryVolume(primaryStorageUuid: storage.uuid, installPath: "zbs://lp/vol")
            },
            bare: {
                _ = try await agentCaller.callAsync(
                    fakes[0].endpoint, path: rootPath + "/volume/query", body: body, timeout: .seconds(5))
            })
        let store = try await Self.compare(
            count: overheadCalls,
            worker: { _ = try await inventory.zbsPrimaryStorage(uuid: storage.uuid) },
            bare: {})
        print(String(format: "  of which the inventory read of the storage: p50 %.0f µs",
                     Self.rank(store.worker, 0.5).inSeconds * 1e6))
        for (name, result) in [("sync /volume/clients", sync), ("async /volume/query", async)] {
            print("  overhead, \(name): ZBS call \(Self.percentiles(result.worker)); bare HTTP \(Self.percentiles(result.bare))")
            print(String(format: "    worker overhead per call: p50 %+.0f µs, mean %+.0f µs  (target < 200 µs)",
                         (Self.rank(result.worker, 0.5).inSeconds - Self.rank(result.bare, 0.5).inSeconds) * 1e6,
                         (Self.mean(result.worker) - Self.mean(result.bare)) * 1e6))
        }
        for fake in fakes { await fake.shutdown() }
        await server.shutdown()
    }

    /// Runs `worker` and `bare` alternately in blocks of 100 (so machine noise hits both), after a warm-up.
    private static func compare(
        count: Int, worker: () async throws -> Void, bare: () async throws -> Void
    ) async throws -> (worker: [Duration], bare: [Duration]) {
        for _ in 0..<200 {
            try await worker()
            try await bare()
        }
        var workerTimes: [Duration] = [], bareTimes: [Duration] = []
        var done = 0
        while done < count {
            let block = min(100, count - done)
            for _ in 0..<block {
                let start = ContinuousClock.now
                try await worker()
                workerTimes.append(ContinuousClock.now - start)
            }
            for _ in 0..<block {
                let start = ContinuousClock.now
                try await bare()
                bareTimes.append(ContinuousClock.now - start)
            }
            done += block
        }
        return (workerTimes, bareTimes)
    }

    private static func rank(_ samples: [Duration], _ p: Double) -> Duration {
        guard !samples.isEmpty else { return .zero }
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
    }

    private static func mean(_ samples: [Duration]) -> Double {
        samples.isEmpty ? 0 : samples.map(\.inSeconds).reduce(0, +) / Double(samples.count)
    }

    private static func percentiles(_ samples: [Duration]) -> String {
        String(format: "p50 %.3f ms, p99 %.3f ms, max %.3f ms",
               rank(samples, 0.5).inSeconds * 1000, rank(samples, 0.99).inSeconds * 1000,
               rank(samples, 1.0).inSeconds * 1000)
    }
}
