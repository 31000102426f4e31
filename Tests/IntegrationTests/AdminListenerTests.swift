import AgentHTTP
import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Primitives
import Testing
import Worker

/// The admin listener as an operator's Prometheus and probes see it: real HTTP on loopback, real requests on the
/// broker, counts read from the text format.
@Suite("Admin listener: /metrics, /livez, /readyz", .enabled(if: TestBroker.available))
struct AdminListenerTests {
    private let client = AgentHTTPClient()

    private func get(_ path: String, port: Int) async throws -> (status: Int, body: String) {
        let response = try await client.get(from: AgentEndpoint(host: "127.0.0.1", port: port), path: path,
                                            connectTimeout: .seconds(5), timeout: .seconds(5))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    @Test("/metrics shows every request sent, by class and outcome, with a histogram; families have HELP and TYPE")
    func metricsCountRequests() async throws {
        try await withWorker { harness in
            let port = try await harness.runtime.adminPort()
            #expect(port != harness.runtime.httpPort)
            for index in 0..<7 {
                let reply = try await harness.call(EchoMsg.className, ["payload": .string("m\(index)")])
                #expect(reply.success)
            }
            // A message is counted once settled — after its answer's commit, which can end after the sender has its
            // reply (the commit is fsynced): scrape once the last one is.
            let echo = EchoMsg.className
            #expect(try await eventually { harness.metrics[WorkerCounter.handled(echo)] == 7 })
            let (status, text) = try await get("/metrics", port: port)
            #expect(status == 200)
            #expect(text.contains(#"cloudbus_worker_messages_total{class="\#(echo)",outcome="handled"} 7"#))
            #expect(text.contains(#"cloudbus_worker_message_duration_seconds_count{class="\#(echo)"} 7"#))
            #expect(text.contains("cloudbus_worker_replies_total 7"))
            #expect(text.contains("cloudbus_worker_ready 1.0"))
            // The +Inf bucket holds them all; the 10-minute bucket too.
            #expect(text.contains(#"cloudbus_worker_message_duration_seconds_bucket{class="\#(echo)",le="+Inf"} 7"#))
            #expect(harness.metrics[WorkerCounter.handled(echo)] == 7)
            let lines = text.split(separator: "\n")
            // The replies' connection counts the publishes written by borrowed passes, and each pass wrote one or more.
            func sample(_ family: String) -> Double? {
                let prefix = family + #"{connection="publish"} "#
                return lines.first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
            }
            let publishes = try #require(sample("cloudbus_worker_amqp_borrowed_publishes_total"))
            let passes = try #require(sample("cloudbus_worker_amqp_borrowed_passes_total"))
            #expect(passes <= publishes)

            let catalogue = Dictionary(uniqueKeysWithValues: WorkerMetrics.catalogue.map { ($0.name, $0) })
            var help: Set<String> = [], types: [String: String] = [:]
            for line in lines where line.hasPrefix("# HELP ") {
                help.insert(String(line.dropFirst(7).prefix { $0 != " " }))
            }
            for line in lines where line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                types[String(parts[0])] = String(parts[1])
            }
            #expect(!types.isEmpty)
            for (family, type) in types {
                #expect(help.contains(family), "\(family) has no HELP line")
                let described = try #require(catalogue[family], "\(family) is not in WorkerMetrics.catalogue")
                #expect(described.kind.rawValue == type, "\(family) is a \(type), the catalogue says \(described.kind)")
            }
            // Every sample's label names are the catalogue's (histograms add `le` on their buckets).
            for line in lines where !line.hasPrefix("#") {
                guard let brace = line.firstIndex(of: "{") else { continue }
                var family = String(line[..<brace])
                for suffix in ["_bucket", "_count", "_sum"] where types[family] == nil && family.hasSuffix(suffix) {
                    family = String(family.dropLast(suffix.count))
                }
                let labels = line[line.index(after: brace)..<line.lastIndex(of: "}")!]
                    .split(separator: ",").map { String($0.prefix { $0 != "=" }) }.filter { $0 != "le" }
                #expect(Set(labels) == Set(catalogue[family]?.labels ?? []), "labels of \(line)")
            }
        }
    }

    @Test("/livez and /readyz answer 200 while serving; /readyz says draining (503) once shutdown began")
    func probes() async throws {
        let gate = HandlerGate()
        let harness = try await WorkerHarness.start(extraHandlers: { $0.register(HangHandler(gate: gate)) })
        let port: Int
        do {
            port = try await harness.runtime.adminPort()
            #expect(try await get("/livez", port: port) == (200, "ok\n"))
            #expect(try await get("/readyz", port: port) == (200, "ok\n"))
            // The agent-callback port serves no metrics: Prometheus needs only the admin port.
            #expect(try await get("/metrics", port: harness.runtime.httpPort).status == 404)
        } catch {
            await harness.stop()
            throw error
        }
        let host = MessageID.random()
        let hung = Task { try? await harness.call(HangMsg.className, ["hostUuid": .string(host), "hang": .bool(true)],
                                                  timeout: .seconds(60)) }
        #expect(try await eventually { gate.hangingStarts(for: host) == 1 })
        // Shutdown waits for the hung job (the drain bound), so it runs beside the probe.
        let stopping = Task { await harness.stop() }
        var draining = false
        let deadline = ContinuousClock.now + .seconds(20)
        while !draining, ContinuousClock.now < deadline {
            draining = (try? await get("/readyz", port: port)).map { $0 == (503, "draining: shutting down\n") } ?? false
            if !draining { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(draining, "/readyz never said draining during the shutdown")
        #expect(try await get("/livez", port: port).status == 200, "alive while draining")
        gate.open()
        await stopping.value
        _ = await hung.value
    }
}
