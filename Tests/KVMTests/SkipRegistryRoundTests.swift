import CloudBus
import CloudBusTesting
@testable import KVM
import MetricsTestKit
import Testing

/// The tracer's two snapshots as one mark plus a query (scenarios 22–24, 36, 40) and the round log's bounds.
@Suite("Skip registry rounds")
struct SkipRegistryRoundTests {
    typealias F = SkipFixture
    static let ttl = Duration.seconds(600)

    @Test("scenario 22: skipped when the command is sent, finished before the reply: skipped this round")
    func scenario22() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        let mark = await registry.beginRound()
        await registry.recordContinue(F.proceed(v, from: F.nodeX))
        #expect(await registry.skipped(among: [v, F.vm(2)], since: mark) == [v])
        await registry.endRound(mark)
        // The next round no longer skips it.
        let next = await registry.beginRound()
        #expect(await registry.skipped(among: [v], since: next).isEmpty)
        await registry.endRound(next)
    }

    @Test("scenario 23: started after the command was sent, still running at the reply: skipped this round")
    func scenario23() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        let mark = await registry.beginRound()
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        #expect(await registry.skipped(among: [v], since: mark) == [v])
        await registry.endRound(mark)
    }

    @Test("scenario 24: started and finished inside the command window: in neither snapshot")
    func scenario24() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        let mark = await registry.beginRound()
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        await registry.recordContinue(F.proceed(v, from: F.nodeX))
        #expect(await registry.skipped(among: [v], since: mark).isEmpty)
        await registry.endRound(mark)
    }

    @Test("scenario 36: an orphan expiring between the snapshots is still skipped this round, removed or not")
    func scenario36Expiry() async {
        let clock = ManualClock()
        let registry = F.registry(clock: clock)
        for number in 1...2 { await registry.recordSkip(F.skip(F.vm(number), from: F.nodeX)) }
        await registry.nodeLeft(F.nodeX)
        clock.advance(by: Self.ttl - .seconds(1))
        let mark = await registry.beginRound()
        clock.advance(by: .seconds(2))
        // vm2's entry is even removed meanwhile by the missing-VM hook of another round.
        #expect(await !registry.isOrphanSkipped(F.vm(2)))
        #expect(await registry.skipped(among: [F.vm(1), F.vm(2)], since: mark) == [F.vm(1), F.vm(2)])
        await registry.endRound(mark)
        let next = await registry.beginRound()
        #expect(await registry.skipped(among: [F.vm(1), F.vm(2)], since: next).isEmpty)
        await registry.endRound(next)
    }

    @Test("scenario 36: NodeLeft(X) during the command with V in X's set: V skipped (snapshot 2)")
    func scenario36NodeLeft() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        let mark = await registry.beginRound()
        await registry.nodeLeft(F.nodeX)
        #expect(await registry.skipped(among: [v], since: mark) == [v])
        await registry.endRound(mark)
    }

    @Test("scenario 40: an orphan created after snapshot 2 is caught by the missing-VM hook")
    func scenario40() async {
        let registry = F.registry(clock: ManualClock())
        let v = F.vm(1)
        let mark = await registry.beginRound()
        #expect(await registry.skipped(among: [v], since: mark).isEmpty)
        await registry.nodeLeft(F.nodeX)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        #expect(await registry.isOrphanSkipped(v))
        await registry.endRound(mark)
    }

    @Test("an orphan re-armed during the round is judged at the mark with its old timestamp")
    func rearmedDuringRound() async {
        let clock = ManualClock()
        let registry = F.registry(clock: clock)
        let v = F.vm(1)
        await registry.recordSkip(F.skip(v, from: F.nodeX))
        await registry.nodeLeft(F.nodeX)
        let mark = await registry.beginRound()
        await registry.recordContinue(F.proceed(v, from: F.nodeY))
        await registry.recordSkip(F.skip(v, from: F.nodeY))
        await registry.recordContinue(F.proceed(v, from: F.nodeY))
        #expect(await registry.skipped(among: [v], since: mark) == [v])
        await registry.endRound(mark)
    }

    @Test("the round log keeps changes only while a round is open, and only those after the oldest open mark")
    func logTrimming() async {
        let registry = F.registry(clock: ManualClock())
        await registry.recordSkip(F.skip(F.vm(1), from: F.nodeX))
        #expect(await registry.rounds.keptChanges == 0)
        let first = await registry.beginRound()
        await registry.recordSkip(F.skip(F.vm(2), from: F.nodeX))
        let second = await registry.beginRound()
        await registry.recordSkip(F.skip(F.vm(3), from: F.nodeX))
        #expect(await registry.rounds.keptChanges == 2)
        await registry.endRound(first)
        #expect(await registry.rounds.keptChanges == 1)
        // The second round still rebuilds its mark: vm3 was not skipped then, vm2 was.
        await registry.recordContinue(F.proceed(F.vm(2), from: F.nodeX))
        await registry.recordContinue(F.proceed(F.vm(3), from: F.nodeX))
        #expect(await registry.skipped(among: [F.vm(2), F.vm(3)], since: second) == [F.vm(2)])
        await registry.endRound(second)
        #expect(await registry.rounds.keptChanges == 0)
        #expect(await registry.status().openRounds == 0)
    }

    @Test("a round that never ends is abandoned when the log is full, and counted")
    func logOverflow() async throws {
        let metrics = TestMetrics()
        let registry = F.registry(clock: ManualClock(), metrics: metrics, roundLogCapacity: 4)
        let forgotten = await registry.beginRound()
        _ = forgotten
        for number in 1...10 { await registry.recordSkip(F.skip(F.vm(number), from: F.nodeX)) }
        #expect(try metrics.expectCounter("cloudbus_worker_skip_registry_rounds_abandoned_total").totalValue == 1)
        #expect(await registry.rounds.keptChanges == 0)
        #expect(await registry.status().openRounds == 0)
    }
}
