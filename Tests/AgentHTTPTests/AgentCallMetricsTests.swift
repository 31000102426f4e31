import AgentHTTP
import CloudBusTesting
import Foundation
import Metrics
import MetricsTestKit
import Primitives
import Testing

/// What an ``AgentCaller`` counts: every call by path and outcome, and its duration by path.
@Suite("Agent call metrics", .timeLimit(.minutes(1)))
struct AgentCallMetricsTests {
    @Test("an ok async call and a refused one: counted by path and outcome, both timed, catalogue covers them")
    func okAndRefused() async throws {
        try await AgentFixture.with { fixture async throws in
            let metrics = TestMetrics()
            let caller = AgentCaller(client: fixture.caller.client, callbackServer: fixture.server, metrics: metrics)
            let body = Data(#"{"hostUuid":"host-a"}"#.utf8)
            _ = try await caller.callAsync(fixture.agent.endpoint, path: "/host/ping", body: body, timeout: .seconds(5))

            let closed = try await ClosedLoopbackPort.make()
            await #expect(throws: AgentHTTPError.connectionRefused(endpoint: closed.endpoint)) {
                try await caller.callAsync(closed.endpoint, path: "/vm/vmsync", body: body, timeout: .seconds(5))
            }

            let calls = "cloudbus_worker_agent_calls_total"
            #expect(try metrics.expectCounter(calls, [("path", "/host/ping"), ("outcome", "ok")]).totalValue == 1)
            #expect(try metrics.expectCounter(calls, [("path", "/vm/vmsync"), ("outcome", "refused")]).totalValue == 1)
            #expect(metrics.counterTotal(label: calls) == 2)
            let duration = "cloudbus_worker_agent_call_duration_seconds"
            #expect(try metrics.expectTimer(duration, [("path", "/host/ping")]).values.count == 1)
            #expect(try metrics.expectTimer(duration, [("path", "/vm/vmsync")]).values.count == 1)
            #expect(catalogueGaps(metrics, AgentHTTPMetrics.catalog).isEmpty,
                    "\(catalogueGaps(metrics, AgentHTTPMetrics.catalog))")
        }
    }

    @Test("a sync call answered outside 2xx is http_error; copies of a caller share its handles")
    func syncHttpError() async throws {
        try await AgentFixture.with { fixture async throws in
            let metrics = TestMetrics()
            let caller = AgentCaller(client: fixture.caller.client, callbackServer: fixture.server, metrics: metrics)
            var copy = caller
            copy.defaultConnectTimeout = .seconds(1)
            // The fake kvmagent answers a POST without taskuuid with an error status.
            for target in [caller, copy] {
                await #expect(throws: AgentHTTPError.self) {
                    try await target.callSync(
                        fixture.agent.endpoint, path: "/host/ping", body: Data("{}".utf8), timeout: .seconds(5))
                }
            }
            #expect(try metrics.expectCounter(
                "cloudbus_worker_agent_calls_total", [("path", "/host/ping"), ("outcome", "http_error")])
                .totalValue == 2)
        }
    }
}
