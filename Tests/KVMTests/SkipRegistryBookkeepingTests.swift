import CloudBus
import CloudBusTesting
@testable import KVM
import MetricsTestKit
import Testing

/// Section C and D of the scenarios (skip bookkeeping and orphans), against the registry alone.
@Suite("Skip registry bookkeeping")
struct SkipRegistryBookkeepingTests {
    typealias F = SkipFixture

    private func skippedNow(_ registry: SkipRegistry, _ vms: [String]) async -> Set<String> {
        let mark = await registry.beginRound()
        let skipped = await registry.skipped(among: vms, since: mark)
        await registry.endRound(mark)
        return skipped
    }

    @Test("scenario 17: a skip from X is recorded, its continue from X ends it")
    func scenario17() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        #expect(await registry.recordSkip(F.skip(v, from: F.nodeX)) == .recorded(operations: 1))
        #expect(await skippedNow(registry, [v, F.vm(2)]) == [v])
        let outcome = await registry.recordContinue(F.proceed(v, from: F.nodeX))
        #expect(outcome.endedOperation && !outcome.clearedOrphan)
        #expect(await skippedNow(registry, [v]).isEmpty)
        #expect(await registry.status().nodesWithEntries == 0)
    }

    @Test("scenario 18: the API id maps to its VM by key, a continue by API id ends it and drops the mapping (no leak)")
    func scenario18() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX, apiId: "api-1"))
        // First writer wins for the API id.
        await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX, apiId: "api-1"))
        #expect(await registry.nodes[F.nodeX]?.apiVms == ["api-1": v])
        let outcome = await registry.recordContinue(F.proceed(nil, from: F.nodeX, apiId: "api-1"))
        #expect(outcome.vmUuid == v && outcome.endedOperation)
        #expect(await registry.status().apiIds == 0)
        #expect(await skippedNow(registry, [v, F.vm(2)]) == [F.vm(2)])
        // The id is gone: a second continue by the same API id resolves nothing.
        #expect(await registry.recordContinue(F.proceed(nil, from: F.nodeX, apiId: "api-1")).vmUuid == nil)
    }

    @Test("scenario 19: two overlapping operations on V each need their continue (counted, not a set)")
    func scenario19() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        #expect(await registry.recordSkip(F.skip(v, from: F.nodeX)) == .recorded(operations: 2))
        await registry.recordContinue(F.proceed(v, from: F.nodeX))
        #expect(await skippedNow(registry, [v]) == [v])
        await registry.recordContinue(F.proceed(v, from: F.nodeX))
        #expect(await skippedNow(registry, [v]).isEmpty)
    }

    @Test("a continue from another node does not end X's operation (only the orphan, if any)")
    func continueFromOtherNode() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        let outcome = await registry.recordContinue(F.proceed(v, from: F.nodeY))
        #expect(!outcome.endedOperation)
        #expect(await skippedNow(registry, [v]) == [v])
    }

    @Test("scenario 20: a late continue from a departed node does not crash and removes the orphan")
    func scenario20() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        await registry.nodeLeft(F.nodeX)
        let outcome = await registry.recordContinue(F.proceed(v, from: F.nodeX))
        #expect(outcome.clearedOrphan && !outcome.endedOperation)
        #expect(await registry.orphans.isEmpty)
        // Unknown node, unknown VM: nothing happens.
        let unknown = await registry.recordContinue(F.proceed(F.vm(9), from: "unknown-node"))
        #expect(!unknown.endedOperation && !unknown.clearedOrphan)
    }

    @Test("scenario 21: a late skip from a departed node becomes an orphan and never resurrects the node's set")
    func scenario21() async throws {
        let clock = ManualClock()
        let metrics = TestMetrics()
        let registry = F.registry(clock: clock, metrics: metrics)
        await registry.nodeLeft(F.nodeX)
        clock.advance(by: .seconds(5))
        #expect(await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX)) == .orphanedLateSkip)
        #expect(await registry.nodes[F.nodeX] == nil)
        #expect(await registry.orphans == [F.vm(1): .seconds(5)])
        #expect(try metrics.expectCounter("cloudbus_worker_skip_registry_late_skips_orphaned_total").totalValue == 1)
        #expect(await registry.isOrphanSkipped(F.vm(1)))
        // After NodeJoin(X) its skips are recorded normally again.
        await registry.nodeJoined(F.nodeX)
        #expect(await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX)) == .recorded(operations: 1))
    }

    @Test("scenario 25: NodeLeft(X) moves X's VMs to orphans at now and drops X's API ids")
    func scenario25() async {
        let clock = ManualClock()
        let registry = F.registry(clock: clock)
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX, apiId: "api-1"))
        await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX))
        await registry.recordSkip(F.skip(F.vm(3), from: F.nodeY))
        clock.advance(by: .seconds(7))
        #expect(await registry.nodeLeft(F.nodeX) == [F.vm(1), F.vm(2)])
        #expect(await registry.nodes[F.nodeX] == nil)
        #expect(await registry.orphans == [F.vm(1): .seconds(7), F.vm(2): .seconds(7)])
        #expect(await registry.status().apiIds == 0)
        #expect(await registry.nodes[F.nodeY]?.operations == [F.vm(3): 1])
        #expect(await skippedNow(registry, [F.vm(1), F.vm(2), F.vm(3), F.vm(4)]) == [F.vm(1), F.vm(2), F.vm(3)])
    }

    @Test("scenario 26: NodeLeft of an unknown node, or of one with no entries, orphans nothing")
    func scenario26() async {
        let registry = F.registry(clock: ManualClock())
        #expect(await registry.nodeLeft("never-seen").isEmpty)
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX))
        await registry.recordContinue(F.proceed(F.vm(1), from: F.nodeX))
        #expect(await registry.nodeLeft(F.nodeX).isEmpty)
        #expect(await registry.orphans.isEmpty)
    }

    @Test("scenario 33: a continue for an orphaned VM from any node removes the orphan at once")
    func scenario33() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        await registry.nodeLeft(F.nodeX)
        #expect(await registry.isOrphanSkipped(v))
        #expect(await registry.recordContinue(F.proceed(v, from: F.nodeY)).clearedOrphan)
        #expect(await !registry.isOrphanSkipped(v))
        #expect(await skippedNow(registry, [v]).isEmpty)
        // Continued, not expired: no tombstone.
        #expect(await !registry.orphanExpiredRecently(v))
    }

    @Test("scenario 34: NodeJoin(X) after NodeLeft keeps the orphan; X's next operation on V ends both")
    func scenario34() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        await registry.nodeLeft(F.nodeX)
        #expect(await registry.nodeJoined(F.nodeX).isEmpty)
        #expect(await registry.nodes[F.nodeX] == nil)
        #expect(await registry.orphans[v] != nil)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        #expect(await registry.nodes[F.nodeX]?.operations == [v: 1])
        let outcome = await registry.recordContinue(F.proceed(v, from: F.nodeX))
        #expect(outcome.endedOperation && outcome.clearedOrphan)
        #expect(await registry.nodes[F.nodeX] == nil)
        #expect(await registry.orphans.isEmpty)
    }

    @Test("NodeJoin(X) with entries still recorded for X (missed NodeLeft / restart with the same id) orphans them")
    func joinWithStaleEntries() async {
        let clock = ManualClock()
        let registry = F.registry(clock: clock)
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX, apiId: "api-1"))
        clock.advance(by: .seconds(3))
        #expect(await registry.nodeJoined(F.nodeX) == [F.vm(1)])
        #expect(await registry.orphans == [F.vm(1): .seconds(3)])
        #expect(await registry.status().apiIds == 0)
        #expect(await registry.status().operations == 0)
    }

    @Test("scenario 37: X and Y both had V, leaving at t0 then t1: one orphan entry with t1")
    func scenario37() async {
        let clock = ManualClock()
        let registry = F.registry(clock: clock)
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        await registry.recordSkip(F.skip(v, from: F.nodeY))
        clock.advance(by: .seconds(10))
        await registry.nodeLeft(F.nodeX)
        #expect(await registry.orphans == [v: .seconds(10)])
        clock.advance(by: .seconds(20))
        await registry.nodeLeft(F.nodeY)
        #expect(await registry.orphans == [v: .seconds(30)])
        #expect(await registry.status().operations == 0)
    }

    @Test("scenario 38: a single-node deployment (no NodeLeft ever) never produces orphans")
    func scenario38SingleNode() async {
        let registry = F.registry(clock: ManualClock())
        for number in 1...5 { await registry.recordSkip(F.skip(F.vm(number), from: F.nodeX)) }
        for number in 1...5 { await registry.recordContinue(F.proceed(F.vm(number), from: F.nodeX)) }
        #expect(await registry.orphans.isEmpty)
        #expect(await !registry.isOrphanSkipped(F.vm(1)))
        #expect(await registry.status() == SkipRegistryStatus(
            nodesWithEntries: 0, operations: 0, skippedVms: 0, apiIds: 0, orphans: 0, tombstones: 0,
            departedNodes: 0, openRounds: 0))
    }
}

@Suite("Skip registry at scale")
struct SkipRegistryScaleTests {
    typealias F = SkipFixture

    @Test("100,000 entries over three nodes: counts, one node leaving, and answers for a 1,000-VM report")
    func hundredThousandEntries() async {
        let clock = ManualClock()
        let registry = F.registry(clock: clock)
        let nodes = [F.nodeX, F.nodeY, "33333333333333333333333333333333"]
        for number in 0..<100_000 {
            await registry.recordSkip(F.skip(F.vm(number), from: nodes[number % 3]))
        }
        #expect(await registry.status().operations == 100_000)
        clock.advance(by: .seconds(1))
        #expect(await registry.nodeLeft(nodes[2]).count == 33_333)
        #expect(await registry.status().orphans == 33_333)
        let report = (0..<1_000).map { F.vm($0 * 97) } + (0..<1_000).map { F.vm(200_000 + $0) }
        let mark = await registry.beginRound()
        await registry.recordContinue(F.proceed(F.vm(0), from: nodes[0]))
        let skipped = await registry.skipped(among: report, since: mark)
        await registry.endRound(mark)
        // Every registered VM (vm 0 too: it was skipped at the mark), none of the unknown ones.
        let expected = Set((0..<1_000).map { F.vm($0 * 97) })
        #expect(skipped.count == expected.count)
        #expect(skipped.subtracting(expected).isEmpty)
        #expect(await registry.isOrphanSkipped(F.vm(2)))
        #expect(await !registry.isOrphanSkipped(F.vm(0)))
    }
}
