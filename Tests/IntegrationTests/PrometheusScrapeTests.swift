import AMQP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// Monitoring as code, checked the way an operator's stack uses it: a real Prometheus (Debian's 2.42) scrapes a
/// worker under a short load and its query API must show exactly the requests sent; it loads the alert rules of
/// `docker/prometheus/alerts.yml` and evaluates them without error; every metric the rules and the Grafana dashboard
/// name is one the worker declares; and `scripts/monitoring-check.sh` (promtool) passes.
struct PrometheusScrapeTests {
    @Suite("Prometheus scrapes a worker: its query API shows the requests sent", .serialized,
           .enabled(if: TestBroker.available), .enabled(if: PrometheusServer.available))
    struct RealServer {
        private let echoes = 12
        private let malformedJSON = 3
        private let notAnObject = 2

        @Test("counters, the latency histogram and dead letters by reason match what was sent; alert rules load healthy")
        func scrapeUnderLoad() async throws {
            try await withWorker { harness in
                let adminPort = try await harness.runtime.adminPort()
                let instance = "127.0.0.1:\(adminPort)"
                try await PrometheusServer.withRunning(scraping: instance, ruleFiles: [PrometheusServer.alertRules]) {
                    prometheus in
                    try await scrape(harness: harness, prometheus: prometheus, instance: instance)
                }
            }
        }

        private func scrape(harness: WorkerHarness, prometheus: PrometheusServer, instance: String) async throws {
            let selector = #"instance="\#(instance)",job="\#(PrometheusServer.job)""#
            // Prometheus scrapes the admin listener before any load.
            #expect(try await eventuallyAsync(within: .seconds(20), every: .milliseconds(250)) {
                try await prometheus.value("up{\(selector)}") == 1
            }, "Prometheus never scraped \(instance):\n\(prometheus.logTail())")

            // The load: echoes answered, and bad bodies (each marked, to take its dead-letter copy back out).
            for index in 0..<echoes {
                let reply = try await harness.call(EchoMsg.className, ["payload": .string("scrape-\(index)")])
                #expect(reply.success)
            }
            let probe = try await DeadLetterProbe.open()
            var markers: [String] = []
            for _ in 0..<malformedJSON {
                let marker = MessageID.random()
                markers.append(marker)
                try await harness.sendRaw(Data(#"{"\#(EchoMsg.className)": {"payload": "\#(marker)""#.utf8))
            }
            for _ in 0..<notAnObject {
                let marker = MessageID.random()
                markers.append(marker)
                try await harness.sendRaw(Data(#"["\#(marker)"]"#.utf8))
            }
            // Each copy found among the dead letters.
            try await withTeardown({ await probe.close() }) {
                for marker in markers {
                    let copy = try await probe.find { String(decoding: $0.body, as: UTF8.self).contains(marker) }
                    #expect(copy != nil, "no dead-letter copy of \(marker)")
                }
            }

            // What the worker says about itself, read from its own exposition...
            let echo = EchoMsg.className
            #expect(harness.metrics[WorkerCounter.handled(echo)] == echoes)
            // Dead letters are counted once confirmed, which can come after the probe sees the copy.
            #expect(try await eventually {
                harness.metrics[WorkerCounter.deadLettered("malformed-json")] == malformedJSON
                    && harness.metrics[WorkerCounter.deadLettered("not-single-key-object")] == notAnObject
            })

            // ...is what Prometheus shows once it scraped after the load.
            let handled = #"cloudbus_worker_messages_total{\#(selector),class="\#(echo)",outcome="handled"}"#
            let arrived = try await eventuallyAsync(within: .seconds(20), every: .milliseconds(250)) {
                let letters = try await prometheus.value(
                    #"sum(cloudbus_worker_dead_letters_total{\#(selector)})"#)
                return try await prometheus.value(handled) == Double(echoes)
                    && letters == Double(malformedJSON + notAnObject)
            }
            #expect(arrived, "Prometheus never showed \(echoes) handled echoes and the dead letters")
            #expect(try await prometheus.value(handled) == Double(echoes))

            let histogram = "cloudbus_worker_message_duration_seconds"
            #expect(try await prometheus.value(#"\#(histogram)_count{\#(selector),class="\#(echo)"}"#) == Double(echoes))
            #expect(try await prometheus.value(#"\#(histogram)_bucket{\#(selector),class="\#(echo)",le="+Inf"}"#)
                == Double(echoes))
            let seconds = try #require(try await prometheus.value(#"\#(histogram)_sum{\#(selector),class="\#(echo)"}"#))
            #expect(seconds > 0 && seconds < Double(echoes) * 10, "sum of latencies: \(seconds) s")
            // The buckets are cumulative: none holds more than the count.
            let buckets = try await prometheus.query(#"\#(histogram)_bucket{\#(selector),class="\#(echo)"}"#)
            #expect(buckets.count > 10, "buckets of the histogram: \(buckets.count)")
            #expect(buckets.allSatisfy { $0.value <= Double(echoes) })
            // The dashboard's p99 over the histogram: a latency, from the same data.
            let p99 = #"histogram_quantile(0.99, sum by (class, le) (rate(\#(histogram)_bucket{\#(selector)}[1m])))"#
            #expect(try await eventuallyAsync(within: .seconds(10), every: .milliseconds(250)) {
                let samples = try await prometheus.query(p99)
                return samples.contains { $0.metric["class"] == echo && $0.value.isFinite && $0.value > 0 }
            }, "no finite p99 for \(echo)")

            let letters = try await prometheus.query(#"sum by (reason) (cloudbus_worker_dead_letters_total{\#(selector)})"#)
            let byReason = Dictionary(uniqueKeysWithValues: letters.map { ($0.metric["reason"] ?? "", $0.value) })
            #expect(byReason == ["malformed-json": Double(malformedJSON), "not-single-key-object": Double(notAnObject)])

            // The gauges the availability alerts read: ready, and both broker connections up.
            #expect(try await prometheus.value("cloudbus_worker_ready{\(selector)}") == 1)
            let connected = try await prometheus.query("max by (connection) (cloudbus_worker_amqp_connected{\(selector)})")
            #expect(Set(connected.map { $0.metric["connection"] ?? "" }) == ["consume", "publish"])
            #expect(connected.allSatisfy { $0.value == 1 })

            // The alert rules as operators load them: every group of alerts.yml, every rule evaluated without error.
            let expectedGroups = try Self.groupNames(in: PrometheusServer.alertRules)
            #expect(!expectedGroups.isEmpty)
            let healthy = try await eventuallyAsync(within: .seconds(20), every: .milliseconds(250)) {
                let groups = try await prometheus.ruleGroups()
                return Set(groups.map(\.name)) == expectedGroups
                    && groups.allSatisfy { $0.rules.allSatisfy { $0.health == "ok" } }
            }
            let groups = try await prometheus.ruleGroups()
            #expect(healthy, "rule groups: \(groups.map { ($0.name, $0.rules.map { ($0.name, $0.health, $0.lastError ?? "") }) })")
            #expect(groups.allSatisfy { $0.rules.allSatisfy { $0.type == "alerting" } })
            #expect(groups.reduce(0) { $0 + $1.rules.count } >= 8)

            // Every family the rules query is in the worker's output as Prometheus stored it: a rule over a series
            // the worker never exports would stay silent forever.
            let stored = Set(try await prometheus.query(#"group by (__name__) ({__name__=~"cloudbus_worker_.+",\#(selector)})"#)
                .compactMap { $0.metric["__name__"] })
            let ruled = Set(groups.flatMap { $0.rules.flatMap { MonitoringNames.metricNames(in: $0.query) } })
            #expect(!ruled.isEmpty)
            for name in ruled.sorted() {
                #expect(stored.contains(name) || stored.contains(name + "_bucket"),
                        "\(name), queried by an alert rule, is not in the worker's output")
            }
        }

        /// The `- name:` entries under `groups:` of a rules file (enough YAML for our own file).
        static func groupNames(in file: URL) throws -> Set<String> {
            let text = try String(contentsOf: file, encoding: .utf8)
            return Set(text.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("  - name: ") else { return nil }
                return String(line.dropFirst("  - name: ".count)).trimmingCharacters(in: .whitespaces)
            })
        }
    }

    @Suite("Monitoring files: names the worker declares, promtool checks")
    struct Files {
        @Test("every metric named by the alert rules and the Grafana dashboard is in WorkerMetrics.catalogue")
        func namesAreCatalogued() throws {
            let catalogue = Dictionary(uniqueKeysWithValues: WorkerMetrics.catalogue.map { ($0.name, $0) })
            let root = PrometheusServer.repositoryRoot

            // Rules: the whole file, so the metric names the annotations tell on-call to look at count too.
            let rules = try String(contentsOf: root.appendingPathComponent("docker/prometheus/alerts.yml"), encoding: .utf8)
            let ruleNames = MonitoringNames.metricNames(in: rules)
            #expect(ruleNames.count >= 8, "names found in alerts.yml: \(ruleNames.sorted())")

            // Dashboard: every query of every panel and template variable.
            let data = try Data(contentsOf: root.appendingPathComponent("docker/grafana/cloudbus-worker.json"))
            let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let queries = MonitoringNames.queries(in: dashboard)
            #expect(queries.count >= 20, "queries found in the dashboard: \(queries.count)")
            let dashboardNames = Set(queries.flatMap { MonitoringNames.metricNames(in: $0) })
            #expect(dashboardNames.count >= 25, "names found in the dashboard: \(dashboardNames.sorted())")

            for (source, names) in [("alerts.yml", ruleNames), ("cloudbus-worker.json", dashboardNames)] {
                for name in names.sorted() {
                    let family = MonitoringNames.family(of: name, in: catalogue)
                    #expect(catalogue[family] != nil, "\(source) names \(name), which is not in WorkerMetrics.catalogue")
                }
            }
        }

        @Test("scripts/monitoring-check.sh: promtool check config, check rules, test rules, the dashboard's PromQL",
              .enabled(if: PrometheusServer.promtoolAvailable))
        func monitoringCheckPasses() async throws {
            let root = PrometheusServer.repositoryRoot
            let result = try await ToolRun.run("/bin/bash", [root.appendingPathComponent("scripts/monitoring-check.sh").path],
                                               currentDirectory: root)
            #expect(result.status == 0, "monitoring-check.sh exited \(result.status):\n\(result.output)")
            #expect(result.output.contains("SUCCESS"), "\(result.output)")
            #expect(result.output.contains("monitoring-check: ok"), "\(result.output)")
        }
    }
}

/// Metric names in PromQL and in the files that hold it.
enum MonitoringNames {
    /// Every `cloudbus_worker_…` name in `text` (a name is letters, digits and underscores).
    static func metricNames(in text: String) -> Set<String> {
        var names: Set<String> = []
        var rest = Substring(text)
        while let start = rest.range(of: "cloudbus_worker_") {
            let name = rest[start.lowerBound...].prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            // Only where a name starts: not inside a longer identifier.
            let before = start.lowerBound == rest.startIndex ? nil : rest[rest.index(before: start.lowerBound)]
            if before.map({ !($0.isLetter || $0.isNumber || $0 == "_") }) ?? true {
                names.insert(String(name))
            }
            rest = rest[name.endIndex...]
        }
        return names
    }

    /// The family a series name belongs to: itself, or a histogram's without `_bucket`, `_count`, `_sum`.
    static func family(of name: String, in catalogue: [String: MetricDescription]) -> String {
        if catalogue[name] != nil { return name }
        for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) {
            let family = String(name.dropLast(suffix.count))
            if catalogue[family]?.kind == .histogram { return family }
        }
        return name
    }

    /// The PromQL of a Grafana dashboard: `expr` of every target, `definition` and `query` of template variables,
    /// in nested rows too.
    static func queries(in json: Any) -> [String] {
        switch json {
        case let object as [String: Any]:
            var found: [String] = []
            for (key, value) in object {
                if ["expr", "definition", "query"].contains(key), let text = value as? String {
                    found.append(text)
                } else {
                    found += queries(in: value)
                }
            }
            return found
        case let array as [Any]:
            return array.flatMap { queries(in: $0) }
        default:
            return []
        }
    }
}
