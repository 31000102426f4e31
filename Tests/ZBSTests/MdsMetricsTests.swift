import CloudBusTesting
import Inventory
import MetricsTestKit
import Primitives
import Testing
import ZBS

/// What the MDS caller counts: every attempt by MDS and outcome, and every move to the next MDS.
@Suite("MDS call metrics")
struct MdsMetricsTests {
    /// The `mds` label of a fixture MDS: its configured address and agent port.
    static func mds(_ addr: String) -> String { "\(addr):\(MdsRecord.defaultAgentPort)" }

    @Test("a try-next across a refusing MDS: one failover, refused on A, ok on B, nothing on C")
    func failoverAcrossRefusingMds() async throws {
        try await MdsFixture.with(peers: [.refusing, .fake, .fake]) { fixture in
            let answer = try await fixture.call("/volume/clients", sync: true, tryNext: true)
            #expect(answer.addr == "mds-b")

            let metrics = fixture.metrics
            let calls = "cloudbus_worker_mds_calls_total"
            #expect(try metrics.expectCounter("cloudbus_worker_mds_failovers_total").totalValue == 1)
            #expect(try metrics.expectCounter(calls, [("mds", Self.mds("mds-a")), ("outcome", "refused")])
                .totalValue == 1)
            #expect(try metrics.expectCounter(calls, [("mds", Self.mds("mds-b")), ("outcome", "ok")]).totalValue == 1)
            #expect(metrics.counterTotal(label: calls) == 2)
            #expect(metrics.counters(label: calls, dimensions: [("mds", Self.mds("mds-c"))]).isEmpty)
            #expect(catalogueGaps(metrics, ZBSMetrics.catalog).isEmpty, "\(catalogueGaps(metrics, ZBSMetrics.catalog))")
        }
    }

    @Test("a timeout on A, then success=false on B: one failover, outcomes timeout and agent_failed, C untouched")
    func agentFailureAndTimeout() async throws {
        try await MdsFixture.with(peers: [.silent, .fake, .fake]) { fixture in
            fixture.b.setBehaviour(.fail(error: "pool full"), for: "/volume/create")
            _ = try await MdsFixture.mdsError {
                _ = try await fixture.call(
                    "/volume/create", tryNext: true, command: ["logicalPool": "lp", "volume": "v", "size": 1])
            }
            let metrics = fixture.metrics
            let calls = "cloudbus_worker_mds_calls_total"
            #expect(try metrics.expectCounter(calls, [("mds", Self.mds("mds-a")), ("outcome", "timeout")])
                .totalValue == 1)
            #expect(try metrics.expectCounter(calls, [("mds", Self.mds("mds-b")), ("outcome", "agent_failed")])
                .totalValue == 1)
            #expect(try metrics.expectCounter("cloudbus_worker_mds_failovers_total").totalValue == 1)
            #expect(metrics.counterTotal(label: calls) == 2)
            #expect(fixture.c.receivedRequests.isEmpty)
        }
    }
}
