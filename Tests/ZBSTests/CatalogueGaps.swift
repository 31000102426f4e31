import MetricsTestKit
import Primitives

// The same helper is in each test target that checks a module's catalogue (KVM, ZBS, AgentHTTP): test targets
// share no support module of their own.

/// A family as a TestMetrics run saw it: name, kind and label names.
struct CreatedFamily: Hashable, CustomStringConvertible {
    var name: String
    var kind: MetricDescription.Kind
    var labels: Set<String>
    var description: String { "\(name) (\(kind), labels \(labels.sorted()))" }
}

extension TestMetrics {
    /// Every family created in this run: counters, gauges (recorders) and timers (exported as histograms).
    var createdFamilies: Set<CreatedFamily> {
        Set(counters.map { CreatedFamily(name: $0.label, kind: .counter, labels: Set($0.dimensions.map(\.0))) })
            .union(recorders.map { CreatedFamily(name: $0.label, kind: .gauge, labels: Set($0.dimensions.map(\.0))) })
            .union(timers.map { CreatedFamily(name: $0.label, kind: .histogram, labels: Set($0.dimensions.map(\.0))) })
    }
}

/// The families created in `metrics` that `catalog` does not describe exactly (name, kind and label names).
func catalogueGaps(_ metrics: TestMetrics, _ catalog: [MetricDescription]) -> [CreatedFamily] {
    let described = Set(catalog.map { CreatedFamily(name: $0.name, kind: $0.kind, labels: Set($0.labels)) })
    return metrics.createdFamilies.subtracting(described).sorted { $0.name < $1.name }
}
