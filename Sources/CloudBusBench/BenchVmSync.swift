import ArgumentParser
import CloudBus
import Foundation
import Inventory
import KVM
import Logging
import Primitives

/// `cloudbus-bench vm-sync`: what one VM-tracer sync round costs the worker, without the agent round trip,
/// and what reading a host's expected VMs costs, each beside a baseline measured in the same run:
///
/// - (a) ``VmTracer/verdicts(hostUuid:report:expected:mark:)`` for a host with `--vms` VMs (1 % of them in
///   another state on the host, so verdicts are encoded), skip lookups against an in-memory registry of
///   `--skip-entries` entries. Baseline: a bare dictionary diff of the same report (no skips, no messages).
///   Target: < 2 ms CPU per round.
/// - (b) ``VmStore/expectedVms(onHost:excludingTypes:)`` on an in-memory SQLite store of `--store-vms` VMs spread
///   over `--store-vms / --vms` hosts (so one host has `--vms` VMs, a tenth of them stopped with it as last host).
///   Baseline: a bare indexed lookup, ``VmStore/vm(uuid:)`` (also shown per row of the query). Target: < 1 ms.
///
/// CPU per round is the process's user+system time over all rounds divided by the rounds (it includes the actor
/// hops and GRDB's queue); wall time percentiles are per round. Runs in a few seconds and stops by itself.
struct BenchVmSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm-sync",
        abstract: "Measure the VM tracer's per-round CPU and the expected-VMs query, beside bare baselines.")

    @Option(help: "VMs on the synced host.")
    var vms: Int = 1_000

    @Option(help: "Entries in the in-memory skip registry.")
    var skipEntries: Int = 100_000

    @Option(help: "VMs in the SQLite store for the expected-VMs query.")
    var storeVms: Int = 100_000

    /// `--rounds` is the parent's option (see `Bench.rounds`): given after this command's name, it lands there.
    @ParentCommand var bench: Bench
    /// Rounds measured: `--rounds`, which the parent command parses (see `Bench.rounds`); 2,000 when not given.
    var rounds: Int { bench.rounds ?? 2000 }

    func run() async throws {
        let tracerTarget = 2.0
        let queryTarget = 1.0
        print("vm-sync bench: host of \(vms) VMs, \(skipEntries) skip entries, store of \(storeVms) VMs, \(rounds) rounds")

        let round = try await measureRound()
        print(BenchVmSyncLine.header)
        print(BenchVmSyncLine(name: "(a) tracer round (verdicts)", sample: round.tracer).text)
        print(BenchVmSyncLine(name: "    baseline: bare dict diff", sample: round.baseline).text)
        print(String(format: "    ratio round/baseline: %.1fx (CPU)   messages per round: %d   target < %.1f ms CPU: ",
                     round.tracer.cpuMillis / max(round.baseline.cpuMillis, 1e-9), round.messages, tracerTarget)
              + (round.tracer.cpuMillis < tracerTarget ? "met" : "MISSED"))

        let query = try await measureQuery()
        print(BenchVmSyncLine(name: "(b) expectedVms(onHost:)", sample: query.expected).text)
        print(BenchVmSyncLine(name: "    baseline: vm(uuid:)", sample: query.single).text)
        print(String(format: "    ratio query/baseline: %.1fx (wall p50)   rows per query: %d   per row: %.2f us, %.2fx one lookup",
                     query.expected.p50Millis / max(query.single.p50Millis, 1e-9), query.rows,
                     query.expected.p50Millis * 1e3 / Double(max(1, query.rows)),
                     query.expected.p50Millis / Double(max(1, query.rows)) / max(query.single.p50Millis, 1e-9))
              + String(format: "   target < %.1f ms: ", queryTarget)
              + (query.expected.p50Millis < queryTarget ? "met" : "MISSED"))
    }

    private func vmUuid(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        return "b" + String(repeating: "0", count: 31 - hex.count) + hex
    }

    private func hostUuid(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        return "a" + String(repeating: "0", count: 31 - hex.count) + hex
    }

    private func measureRound() async throws -> (tracer: BenchVmSyncSample, baseline: BenchVmSyncSample, messages: Int) {
        let host = hostUuid(1)
        var expected: [VmRecord] = []
        var states: [String: String] = [:]
        for number in 0..<vms {
            let uuid = vmUuid(number)
            expected.append(VmRecord(uuid: uuid, state: .running, hostUuid: host))
            states[uuid] = number % 100 == 0 ? "Paused" : "Running"
        }
        let report = VmSyncReport(states: states)
        // Skip entries are mostly other VMs; every 20th VM of this host is skipped too.
        var skipped = Set<String>(minimumCapacity: skipEntries)
        for number in 0..<skipEntries { skipped.insert(vmUuid(1_000_000 + number)) }
        for number in stride(from: 5, to: vms, by: 20) { skipped.insert(vmUuid(number)) }
        let skips = BenchVmSyncSkips(skipped)
        let tracer = VmTracer(
            vms: try SQLiteInventory.inMemory(), skips: skips,
            outbox: VmTracerOutbox(membership: ClusterMembership(selfNode: NodeUUID.random())),
            tracerOn: VmTracerSettings.tracerOnSetting(),
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        let mark = await skips.beginRound()
        var messages = 0
        for _ in 0..<max(10, rounds / 10) {  // warm-up
            messages = try await tracer.verdicts(hostUuid: host, report: report, expected: expected, mark: mark).count
        }
        let tracerSample = try await BenchVmSyncSample.measure(rounds: rounds) {
            _ = try await tracer.verdicts(hostUuid: host, report: report, expected: expected, mark: mark)
        }
        let baseline = try await BenchVmSyncSample.measure(rounds: rounds) {
            var byUuid: [String: VmState] = [:]
            byUuid.reserveCapacity(expected.count)
            for vm in expected { byUuid[vm.uuid] = vm.state }
            var differing = 0
            for (uuid, state) in report.states where byUuid[uuid]?.rawValue != state { differing += 1 }
            if differing < 0 { print("unreachable") }
        }
        return (tracerSample, baseline, messages)
    }

    private func measureQuery() async throws -> (expected: BenchVmSyncSample, single: BenchVmSyncSample, rows: Int) {
        let inventory = try SQLiteInventory.inMemory()
        let hostCount = max(1, storeVms / max(1, vms))
        try await inventory.upsertHosts((0..<hostCount).map {
            HostRecord(uuid: hostUuid($0), managementIp: "127.0.0.1", status: .connected)
        })
        var batch: [VmRecord] = []
        for number in 0..<storeVms {
            let host = hostUuid(number % hostCount)
            batch.append((number / hostCount) % 10 == 0
                ? VmRecord(uuid: vmUuid(number), state: .stopped, lastHostUuid: host)
                : VmRecord(uuid: vmUuid(number), state: .running, hostUuid: host))
            if batch.count == 10_000 {
                try await inventory.upsertVms(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        try await inventory.upsertVms(batch)
        let host = hostUuid(hostCount / 2)
        let rows = try await inventory.expectedVms(onHost: host).count
        let queries = max(50, rounds / 4)
        let expectedSample = try await BenchVmSyncSample.measure(rounds: queries) {
            _ = try await inventory.expectedVms(onHost: host)
        }
        let probe = vmUuid(storeVms / 2)
        let single = try await BenchVmSyncSample.measure(rounds: queries) {
            _ = try await inventory.vm(uuid: probe)
        }
        return (expectedSample, single, rows)
    }
}

/// A skip registry as cheap as the real one can be: a set, answered per VM asked about.
actor BenchVmSyncSkips: VmTraceSkips {
    private let entries: Set<String>
    init(_ entries: Set<String>) { self.entries = entries }
    func beginRound() -> TraceRoundMark { TraceRoundMark(sequence: 1, instant: .zero) }
    func skipped(among vms: [String], since mark: TraceRoundMark) -> Set<String> {
        var found = Set<String>()
        for vm in vms where entries.contains(vm) { found.insert(vm) }
        return found
    }
    func endRound(_ mark: TraceRoundMark) {}
    func isOrphanSkipped(_ vmUuid: String) -> Bool { false }
    func orphanExpiredRecently(_ vmUuid: String) -> Bool { false }
}

/// CPU per round (process user+system over all rounds / rounds) and wall-time percentiles.
struct BenchVmSyncSample {
    var cpuMillis: Double
    var p50Millis: Double
    var p99Millis: Double

    static func measure(rounds: Int, _ body: () async throws -> Void) async throws -> BenchVmSyncSample {
        var walls: [Double] = []
        walls.reserveCapacity(rounds)
        let cpuBefore = processCPUSeconds()
        let clock = ContinuousClock()
        for _ in 0..<rounds {
            let start = clock.now
            try await body()
            walls.append(start.duration(to: clock.now).inSeconds * 1e3)
        }
        let cpu = (processCPUSeconds() - cpuBefore) * 1e3 / Double(max(1, rounds))
        walls.sort()
        func percentile(_ p: Double) -> Double { walls.isEmpty ? 0 : walls[min(walls.count - 1, Int(Double(walls.count) * p))] }
        return BenchVmSyncSample(cpuMillis: cpu, p50Millis: percentile(0.5), p99Millis: percentile(0.99))
    }

    static func processCPUSeconds() -> Double {
        BenchProcStat.ownCPUTime().inSeconds
    }
}

struct BenchVmSyncLine {
    static let header = padded("measure") + "      CPU ms  wall p50 ms  wall p99 ms"
    var name: String
    var sample: BenchVmSyncSample
    var text: String {
        Self.padded(name) + String(format: " %11.4f  %11.4f  %11.4f", sample.cpuMillis, sample.p50Millis,
                                   sample.p99Millis)
    }

    static func padded(_ text: String) -> String {
        text.count >= 32 ? text : text + String(repeating: " ", count: 32 - text.count)
    }
}
