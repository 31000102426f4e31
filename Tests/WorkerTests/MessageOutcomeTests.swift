@testable import Worker
import Testing

@Suite("Message outcomes and their per-class counters")
struct MessageOutcomeTests {
    @Test("an outcome's index is its place in allCases")
    func indexIsThePlaceInAllCases() {
        for (offset, outcome) in MessageOutcome.allCases.enumerated() {
            #expect(outcome.index == offset, "\(outcome)")
        }
    }

    @Test("each outcome counted lands on its own labelled series, and only there")
    func eachOutcomeOnItsOwnSeries() {
        let metrics = WorkerMetrics()
        let className = "org.zstack.test.OutcomeProbeMsg"
        let series = metrics.series(for: className)
        for (offset, outcome) in MessageOutcome.allCases.enumerated() {
            for _ in 0...offset { series.count(outcome) }
        }
        for (offset, outcome) in MessageOutcome.allCases.enumerated() {
            #expect(metrics[WorkerCounter.outcome(outcome, className: className)] == offset + 1, "\(outcome)")
        }
    }
}
