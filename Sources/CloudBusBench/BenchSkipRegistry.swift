import ArgumentParser
import CloudBus
import Foundation
import Inventory
import KVM
import KVMMessages
import Logging
import Primitives

/// `cloudbus-bench skip-registry`: the cost of the tracer's questions to a full skip registry, next to a
/// plain `Set<String>` lookup (the floor) and to ZStack's way of taking a snapshot (copying the union of every
/// node's set each round). In-process, no broker; a few seconds.
struct BenchSkipRegistry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skip-registry",
        abstract: "Measure skipped(among:since:) and isOrphanSkipped on a registry of 100,000 entries.",
        discussion: """
            Fills the registry with --entries skipped operations spread over three management nodes, then makes \
            one node leave (a third become orphans). Each round opens a mark, makes --churn changes (as if \
            operations started and ended during the agent call), asks about --vms VMs (half of them present) and \
            closes the round. Figures are per VM checked; the baselines run on the same uuids.
            """)

    @Option(help: "Skip entries in the registry.")
    var entries = 100_000

    @Option(help: "VMs asked about per round (one host's report).")
    var vms = 1_000

    /// `--rounds` is the parent's option (see `Bench.rounds`): given after this command's name, it lands there.
    @ParentCommand var bench: Bench
    /// Rounds measured: `--rounds`, which the parent command parses (see `Bench.rounds`); 300 when not given.
    var rounds: Int { bench.rounds ?? 300 }

    @Option(help: "Registry changes made inside each round, between the mark and the question.")
    var churn = 100

    @Option(help: "Skip+continue pairs sent one by one to a registry persisted in a scratch SQLite file (0: none).")
    var persistedEvents = 500

    func run() async throws {
        let nodes = ["11111111111111111111111111111111", "22222222222222222222222222222222",
                     "33333333333333333333333333333333"]
        let registry = SkipRegistry(
            ownNode: "99999999999999999999999999999999",
            timeout: SkipRegistry.timeoutSetting(),
            clock: ContinuousClock(), logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        let uuids = (0..<entries).map { Self.uuid($0) }
        let clock = ContinuousClock()
        let fillStart = clock.now
        for (index, vmUuid) in uuids.enumerated() {
            await registry.recordSkip(VmSkipTraceData(vmUuid: vmUuid, managementNodeId: nodes[index % 3]))
        }
        await registry.nodeLeft(nodes[2])
        let fill = fillStart.duration(to: clock.now)
        let status = await registry.status()

        // Half of the VMs asked about are in the registry (a third of those orphans), half are not.
        let asked = (0..<vms).map { $0 % 2 == 0 ? uuids[($0 * 97) % uuids.count] : Self.uuid(entries + $0) }
        let churned = (0..<churn).map { Self.uuid(entries * 2 + $0) }

        var registryHits = 0
        var registryTime = Duration.zero
        for _ in 0..<rounds {
            let mark = await registry.beginRound()
            for vmUuid in churned {
                await registry.recordSkip(VmSkipTraceData(vmUuid: vmUuid, managementNodeId: nodes[0]))
                await registry.recordContinue(VmContinueTraceData(vmUuid: vmUuid, managementNodeId: nodes[0]))
            }
            let start = clock.now
            registryHits += await registry.skipped(among: asked, since: mark).count
            registryTime += start.duration(to: clock.now)
            await registry.endRound(mark)
        }

        var orphanHits = 0
        let orphanStart = clock.now
        for _ in 0..<rounds {
            for vmUuid in asked {
                if await registry.isOrphanSkipped(vmUuid) { orphanHits += 1 }
            }
        }
        let orphanTime = orphanStart.duration(to: clock.now)

        // Baseline 1: the floor, a plain Set lookup per VM.
        let plain = Set(uuids)
        var plainHits = 0
        let plainStart = clock.now
        for _ in 0..<rounds {
            for vmUuid in asked where plain.contains(vmUuid) { plainHits += 1 }
        }
        let plainTime = plainStart.duration(to: clock.now)

        // Baseline 2: ZStack's snapshot, copying the union of the per-node sets, twice per round.
        let perNode = (0..<3).map { node in Set(uuids.enumerated().filter { $0.offset % 3 == node }.map(\.element)) }
        var copyHits = 0
        let copyRounds = max(1, rounds / 10)
        let copyStart = clock.now
        for _ in 0..<copyRounds {
            var snapshot = Set<String>()
            for _ in 0..<2 { for set in perNode { snapshot.formUnion(set) } }
            for vmUuid in asked where snapshot.contains(vmUuid) { copyHits += 1 }
        }
        let copyTime = copyStart.duration(to: clock.now)

        let checks = Double(rounds * vms)
        let perRegistry = (registryTime.inSeconds * 1e9) / checks
        let perOrphan = (orphanTime.inSeconds * 1e9) / checks
        let perPlain = (plainTime.inSeconds * 1e9) / checks
        let perCopy = (copyTime.inSeconds * 1e9) / Double(copyRounds * vms)
        print("skip registry: \(status.operations) operations, \(status.orphans) orphans "
            + "(filled in \(Self.format((fill.inSeconds * 1e9) / 1e6)) ms); \(vms) VMs x \(rounds) rounds, "
            + "\(churn * 2) changes inside each round")
        print("check                                   ns/VM     x Set.contains")
        print(row("Set.contains (baseline)", perPlain, perPlain))
        print(row("skipped(among:since:)", perRegistry, perPlain))
        print(row("isOrphanSkipped (one actor call each)", perOrphan, perPlain))
        print(row("ZStack snapshot copy x2 (per VM)", perCopy, perPlain))
        print("hits: registry \(registryHits / rounds), orphans \(orphanHits / rounds), set \(plainHits / rounds), "
            + "copy \(copyHits / copyRounds) per round")
        if persistedEvents > 0 { try await measureWriteThrough(memory: registry, nodes: nodes) }
    }

    /// Events one at a time (as the subscriber's single executor key delivers them), each waiting for its write,
    /// against the same events on the in-memory registry.
    private func measureWriteThrough(memory: SkipRegistry, nodes: [String]) async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bench-skip-registry-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let persisted = try await SkipRegistry.open(
            ownNode: memory.ownNode,
            timeout: SkipRegistry.timeoutSetting(),
            store: try SQLiteInventory(path: directory.appendingPathComponent("inventory.sqlite").path),
            clock: ContinuousClock(), logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        let clock = ContinuousClock()
        var times: [Duration] = []
        for registry in [memory, persisted] {
            let start = clock.now
            for number in 0..<persistedEvents {
                let vmUuid = Self.uuid(entries * 3 + number)
                await registry.recordSkip(VmSkipTraceData(vmUuid: vmUuid, managementNodeId: nodes[0]))
                await registry.recordContinue(VmContinueTraceData(vmUuid: vmUuid, managementNodeId: nodes[0]))
            }
            times.append(start.duration(to: clock.now))
        }
        let events = Double(persistedEvents * 2)
        let memoryPer = (times[0].inSeconds * 1e9) / events / 1000
        let persistedPer = (times[1].inSeconds * 1e9) / events / 1000
        print("event (skip or continue)                  µs/event  x in-memory")
        print(row("in-memory registry (baseline)", memoryPer, memoryPer))
        print(row("write-through to SQLite (WAL file)", persistedPer, memoryPer))
    }

    private func row(_ name: String, _ nanoseconds: Double, _ baseline: Double) -> String {
        let padded = name.padding(toLength: 38, withPad: " ", startingAt: 0)
        let value = Self.format(nanoseconds).leftPadded(to: 9)
        let ratio = Self.format(baseline > 0 ? nanoseconds / baseline : 0).leftPadded(to: 12)
        return "\(padded)\(value)\(ratio)"
    }

    private static func uuid(_ number: Int) -> String {
        let hex = String(number, radix: 16)
        return "b" + String(repeating: "0", count: 31 - hex.count) + hex
    }


    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
